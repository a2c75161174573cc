"""The back office: keys shown once and revocable, payments searchable and read-only with their history."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from payments.models import ApiKey, Merchant, Payment, PaymentAttempt
from payments.services.payments import payment_lock_with_attempts, payment_mark_succeeded
from tests.payments.conftest import card_payment_body, make_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("admin", "admin@x.test", "pw")
    client.force_login(user)
    return client


def test_adding_a_merchant_shows_its_secret_once_and_the_key_works(staff) -> None:
    response = staff.post(
        "/admin/payments/merchant/add/",
        {"name": "Acme", "email": "ops@acme.test", "api_keys-TOTAL_FORMS": 0, "api_keys-INITIAL_FORMS": 0},
        follow=True,
    )
    assert response.status_code == 200
    secret = re.search(r"sk_test_[A-Za-z0-9_-]+", response.content.decode()).group(0)
    merchant = Merchant.objects.get(name="Acme")
    assert ApiKey.objects.get(merchant=merchant).last4 == secret[-4:]
    assert secret not in staff.get(f"/admin/payments/merchant/{merchant.pk}/change/").content.decode()


def test_revoke_action_stops_a_key(staff) -> None:
    api = make_api()
    key = ApiKey.objects.get(merchant=api.merchant)
    staff.post("/admin/payments/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert api.get("/v1/payments").status_code == 401


def test_payments_are_found_by_id_last4_provider_reference_and_email(staff) -> None:
    api = make_api()
    payment = api.post("/v1/payments", card_payment_body(confirm=True, customer_email="buyer@shop.test")).json()
    attempt = payment["attempts"][0]["id"]
    PaymentAttempt.objects.filter(pk=attempt).update(provider_reference="psp_ref_123")
    with transaction.atomic():
        locked = payment_lock_with_attempts(payment_id=payment["id"])
        payment_mark_succeeded(payment=locked, attempt=locked.known_attempts[0])
    other = api.post("/v1/payments", card_payment_body(payment_method={"type": "upi"}, currency="inr")).json()

    for query in (payment["id"], "4242", "psp_ref_123", "buyer@shop"):
        page = staff.get("/admin/payments/payment/", {"q": query}).content.decode()
        assert payment["id"] in page, query
        assert other["id"] not in page, query


def test_a_payment_page_shows_attempts_and_history_read_only(staff) -> None:
    api = make_api()
    payment = api.post("/v1/payments", card_payment_body(confirm=True)).json()
    page = staff.get(f"/admin/payments/payment/{payment['id']}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert payment["attempts"][0]["id"] in html
    assert "requires_confirmation" in html
    assert "processing" in html
    assert 'name="_save"' not in html
    before = Payment.objects.get(pk=payment["id"]).status
    staff.post(f"/admin/payments/payment/{payment['id']}/change/", {"amount": 1})
    assert Payment.objects.get(pk=payment["id"]).status == before


def test_the_late_success_policy_is_set_in_the_admin(staff) -> None:
    merchant = make_api(name="Policy").merchant
    page = staff.get(f"/admin/payments/merchant/{merchant.pk}/change/").content.decode()
    assert 'name="upi_late_success_policy"' in page
    staff.post(
        f"/admin/payments/merchant/{merchant.pk}/change/",
        {
            "name": merchant.name,
            "email": merchant.email,
            "upi_late_success_policy": "fulfil",
            "api_keys-TOTAL_FORMS": 0,
            "api_keys-INITIAL_FORMS": 0,
        },
    )
    assert Merchant.objects.get(pk=merchant.pk).upi_late_success_policy == "fulfil"
