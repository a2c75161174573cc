"""The back office answers bad requests with a 4xx, never a 500 (issue 12, "No 5xx": back office)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.db.models import ProtectedError

from backoffice.models import AuditLogEntry
from payments.models import Refund
from tests.backoffice.conftest import login
from tests.payments.refunds.helpers import captured_payment


def test_staff_without_permissions_posting_a_refund_gets_403(api, sandbox, groups):
    payment_id = captured_payment(api, 2000)
    nobody = login("nat")  # staff, in no group, no permission
    response = nobody.post(
        f"/admin/payments/payment/{quote(payment_id)}/refund/",
        {"amount": "1.00", "reason": "requested_by_customer", "note": "x", "form_token": "t", "confirm": "yes"},
    )
    assert response.status_code == 403
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_a_user_with_audit_log_entries_cannot_be_deleted_and_the_admin_says_so():
    """SET NULL met the append-only trigger (a 500); the history keeps its author, so deleting is refused cleanly
    (deactivate the user instead)."""
    users = get_user_model().objects
    agent = users.create_user("ann", "ann@x.test", "pw", is_staff=True)
    AuditLogEntry.objects.create(user=agent, username="ann", action="refund", object_type="payment", object_id="p")
    with pytest.raises(ProtectedError):
        agent.delete()

    admin = login("root", superuser=True)
    page = admin.post(f"/admin/auth/user/{agent.pk}/delete/", {"post": "yes"})
    assert page.status_code == 200
    assert "Cannot delete" in page.content.decode() or "would require deleting" in page.content.decode()
    assert users.filter(pk=agent.pk).exists()
    assert AuditLogEntry.objects.get().user_id == agent.pk


@pytest.mark.django_db
def test_a_nul_character_in_a_back_office_url_search_or_form_is_a_4xx():
    admin = login("root", superuser=True)
    assert admin.get("/admin/payments/payment/pay_1%00x/change/").status_code == 404
    assert admin.get("/admin/payments/payment/", {"q": "pay_\x00"}).status_code == 400
    assert (
        admin.post("/admin/auth/user/add/", {"username": "a\x00b", "password1": "x", "password2": "x"}).status_code
        == 400
    )
    assert not get_user_model().objects.filter(username__startswith="a").exists()
