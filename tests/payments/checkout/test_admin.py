"""Support looks a checkout session up in the back office: read-only, with its payment, never the attempt key."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client

from payments.models import CheckoutSession
from tests.payments.checkout.test_api import session_body


def test_a_session_is_found_by_id_and_shown_read_only(api):
    session_id = api.post("/v1/checkout/sessions", session_body()).json()["id"]
    CheckoutSession.objects.filter(pk=session_id).update(attempt_key="secret-attempt-key-0001")
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@x.test", "pw"))
    listed = client.get("/admin/payments/checkoutsession/", {"q": session_id})
    assert listed.status_code == 200
    assert session_id in listed.content.decode()
    page = client.get(f"/admin/payments/checkoutsession/{session_id.replace('_', '_5F')}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "https://shop.test/thanks" in html
    assert "secret-attempt-key-0001" not in html
    assert 'name="amount"' not in html  # nothing to edit
