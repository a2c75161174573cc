"""The support back office with Django's test client: each action, each permission boundary, the audit log."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import override_settings

from backoffice.models import AuditLogEntry, ImmutableAuditError
from payments.models import Dispute, Payment, Payout, Refund
from tests.payments.conftest import card_payment_body
from tests.payments.execution.conftest import drain
from tests.payments.refunds.helpers import captured_payment, release_due
from tests.payments.refunds.test_disputes import chargeback
from tests.psp_sandbox import receiving


def page(client, payment_id: str) -> str:
    response = client.get(f"/admin/payments/payment/{quote(payment_id)}/change/")
    assert response.status_code == 200
    return response.content.decode()


def token(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


def refund(client, payment_id: str, *, amount: str = "", note: str = "customer asked", form_token: str | None = None):
    form_token = form_token or token(page(client, payment_id))
    return client.post(
        f"/admin/payments/payment/{quote(payment_id)}/refund/",
        {"amount": amount, "reason": "requested_by_customer", "note": note, "form_token": form_token},
        follow=True,
    )


def test_setup_groups_is_idempotent_and_splits_the_duties(groups):
    call_command("setup_groups", verbosity=0)
    support = set(Group.objects.get(name="Support").permissions.values_list("codename", flat=True))
    finance = set(Group.objects.get(name="Finance").permissions.values_list("codename", flat=True))
    assert {"refund_payment", "handle_dispute", "view_payment"} <= support
    assert "manage_payouts" not in support
    assert "view_payout" not in support
    assert {"manage_payouts", "view_payout", "view_reports"} <= finance
    assert "refund_payment" not in finance


def test_the_payment_page_shows_amounts_attempts_and_a_timeline(api, sandbox, support):
    payment_id = captured_payment(api, 2000)
    html = page(support, payment_id)
    assert 'id="refund-form"' in html
    assert "processing → succeeded" in html or "succeeded" in html
    assert "payment.succeeded" in html  # the event
    assert f"payment:{payment_id}:capture" in html  # the ledger transaction
    assert 'id="refundable">2000<' in html


def test_support_refunds_part_of_a_payment_and_the_audit_log_says_who_and_what(api, sandbox, support):
    payment_id = captured_payment(api, 2000)
    response = refund(support, payment_id, amount="700")
    assert "Refund re_" in response.content.decode()
    (created,) = Refund.objects.filter(payment_id=payment_id)
    assert (created.amount, created.requested_by) == (700, "admin:sam")
    assert drain() == ["payments.execute_attempt:refund_succeeded"]
    entry = AuditLogEntry.objects.get(action="payment.refund")
    assert (entry.username, entry.object_id, entry.reason, entry.outcome) == ("sam", payment_id, "customer asked", "ok")
    assert entry.before["amount_refunded"] == 0
    assert entry.after["amount_refunded"] == 700
    assert entry.after["refund"] == created.id
    assert "payment.refund" in page(support, payment_id)  # on the timeline too


def test_a_double_click_refunds_once(api, sandbox, support):
    payment_id = captured_payment(api, 2000)
    form_token = token(page(support, payment_id))
    refund(support, payment_id, amount="300", form_token=form_token)
    second = refund(support, payment_id, amount="300", form_token=form_token)
    assert "already submitted" in second.content.decode()
    assert Refund.objects.filter(payment_id=payment_id).count() == 1


def test_two_agents_on_stale_pages_cannot_over_refund(api, sandbox, support, support2):
    payment_id = captured_payment(api, 2000)
    token_a, token_b = token(page(support, payment_id)), token(page(support2, payment_id))
    refund(support, payment_id, amount="1500", form_token=token_a)
    response = refund(support2, payment_id, amount="1000", form_token=token_b)
    assert "greater than the payment&#x27;s refundable amount" in response.content.decode()
    assert Payment.objects.get(pk=payment_id).amount_refunded == 1500
    assert AuditLogEntry.objects.filter(username="sue", outcome__startswith="refused").count() == 1


@override_settings(BACKOFFICE_SUPPORT_REFUND_LIMIT=500)
def test_a_refund_above_the_support_limit_is_refused_but_a_superuser_may(api, sandbox, support, superuser):
    payment_id = captured_payment(api, 2000)
    response = refund(support, payment_id, amount="501")
    assert "Refunds above 500" in response.content.decode()
    assert not Refund.objects.exists()
    assert "Refund re_" in refund(superuser, payment_id, amount="1500").content.decode()


def test_a_refund_needs_a_note(api, sandbox, support):
    payment_id = captured_payment(api, 2000)
    assert "note for the audit log is required" in refund(support, payment_id, amount="100", note=" ").content.decode()
    assert not Refund.objects.exists()


def test_finance_cannot_refund_and_support_cannot_pay_out(api, sandbox, support, finance):
    payment_id = captured_payment(api, 2000)
    assert 'id="refund-form"' not in page(finance, payment_id)
    refund(finance, payment_id, amount="100", form_token="x")
    assert not Refund.objects.exists()
    assert support.get("/admin/payments/payout/").status_code == 403
    assert finance.get("/admin/payments/payout/").status_code == 200


def test_finance_marks_a_returned_payout_failed_and_the_balance_is_recredited(api, sandbox, finance, support):
    captured_payment(api, 2000)
    release_due()
    payout_id = api.post("/v1/payouts", {"amount": 1000, "currency": "usd"}).json()["id"]
    support.post("/admin/payments/payout/", {"action": "mark_returned", "_selected_action": [payout_id]})
    assert Payout.objects.get(pk=payout_id).status == "pending"
    finance.post("/admin/payments/payout/", {"action": "mark_returned", "_selected_action": [payout_id]})
    assert Payout.objects.get(pk=payout_id).status == "failed"
    assert api.get("/v1/balance").json()["available"][0]["amount"] == 1912
    assert AuditLogEntry.objects.get(action="payout.fail").username == "fay"


def test_capture_and_cancel_from_the_payment_page(api, sandbox, support):
    manual = api.post("/v1/payments", card_payment_body(confirm=True, capture_method="manual")).json()["id"]
    other = api.post("/v1/payments", card_payment_body(confirm=True, capture_method="manual")).json()["id"]
    drain()
    html = page(support, manual)
    support.post(f"/admin/payments/payment/{quote(manual)}/capture/", {"note": "ok", "form_token": token(html)})
    assert Payment.objects.get(pk=manual).status == "succeeded"
    html = page(support, other)
    support.post(f"/admin/payments/payment/{quote(other)}/cancel/", {"note": "dup", "form_token": token(html)})
    assert Payment.objects.get(pk=other).status == "canceled"
    assert sorted(AuditLogEntry.objects.values_list("action", flat=True)) == ["payment.cancel", "payment.capture"]


def test_resolving_an_attempt_needs_a_reason(api, sandbox, support):
    payment_id = captured_payment(api, 2000)
    attempt = Payment.objects.get(pk=payment_id).attempts.get()
    type(attempt).objects.filter(pk=attempt.pk).update(review_reason="unresolved: test")
    assert 'id="resolve-attempts"' in page(support, payment_id)
    url = f"/admin/payments/payment/{quote(payment_id)}/resolve_attempt/"
    response = support.post(url, {"attempt": attempt.id, "resolution": "mark_reviewed", "reason": ""}, follow=True)
    assert "reason is required" in response.content.decode()
    support.post(url, {"attempt": attempt.id, "resolution": "mark_reviewed", "reason": "checked with the acquirer"})
    attempt.refresh_from_db()
    assert attempt.review_reason == ""
    assert AuditLogEntry.objects.get(action="attempt.mark_reviewed").reason == "checked with the acquirer"


def test_the_disputes_queue_is_ordered_by_deadline_with_overdue_ones_highlighted(api, sandbox, support, tmp_path):
    with receiving(sandbox) as hook:
        first = chargeback(api, sandbox, hook)
        second = chargeback(api, sandbox, hook)
    Dispute.objects.filter(pk=second.pk).update(evidence_due_by=first.evidence_due_by.replace(year=2020))
    html = support.get("/admin/payments/dispute/").content.decode()
    assert html.index(second.id) < html.index(first.id)
    assert html.count("(overdue)") == 1


def test_support_uploads_evidence_submits_it_and_another_dispute_is_accepted(api, sandbox, support, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook)
        other = chargeback(api, sandbox, hook)
    html = support.get(f"/admin/payments/dispute/{quote(dispute.id)}/change/").content.decode()
    bad = support.post(
        f"/admin/payments/dispute/{quote(dispute.id)}/respond/",
        {"form_token": token(html), "file": SimpleUploadedFile("x.pdf", b"GIF89a", "application/pdf")},
        follow=True,
    )
    assert "PDF, PNG or JPEG" in bad.content.decode()
    html = support.get(f"/admin/payments/dispute/{quote(dispute.id)}/change/").content.decode()
    support.post(
        f"/admin/payments/dispute/{quote(dispute.id)}/respond/",
        {
            "form_token": token(html),
            "product_description": "A lamp",
            "file": SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 receipt", "application/pdf"),
            "submit_evidence": "on",
        },
    )
    dispute.refresh_from_db()
    assert dispute.status == "under_review"
    assert len(dispute.evidence["files"]) == 1
    assert drain() == ["payments.dispute_respond:evidence_sent"]
    html = support.get(f"/admin/payments/dispute/{quote(other.id)}/change/").content.decode()
    support.post(f"/admin/payments/dispute/{quote(other.id)}/accept/", {"form_token": token(html), "note": "no proof"})
    other.refresh_from_db()
    assert other.status == "accepted"
    log = [(e.action, e.outcome.split(":")[0]) for e in AuditLogEntry.objects.order_by("id")]
    assert log == [("dispute.evidence", "refused"), ("dispute.submit", "ok"), ("dispute.accept", "ok")]
    assert AuditLogEntry.objects.get(action="dispute.accept").after["status"] == "accepted"


def test_nobody_edits_or_deletes_the_audit_log(api, sandbox, support, superuser):
    payment_id = captured_payment(api, 2000)
    refund(support, payment_id, amount="100")
    entry = AuditLogEntry.objects.get()
    assert superuser.post(f"/admin/backoffice/auditlogentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert superuser.get(f"/admin/backoffice/auditlogentry/{entry.pk}/change/").status_code == 200
    entry.reason = "edited"
    with pytest.raises(ImmutableAuditError):
        entry.save()
    with pytest.raises(ImmutableAuditError):
        AuditLogEntry.objects.all().delete()
    AuditLogEntry.objects.get(reason="customer asked")
