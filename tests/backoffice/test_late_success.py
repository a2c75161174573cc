"""A late UPI success whose automatic refund the provider failed: flagged, and Support sees it through from the
payment page (a refund like any other, audited)."""

from __future__ import annotations

from backoffice.models import AuditLogEntry
from ledger.balances import merchant_balances
from ledger.verification import verify_ledger
from payments.models import Refund
from tests.backoffice.test_payment_page import page, refund
from tests.payments.execution.conftest import attempts, janitor
from tests.payments.execution.test_upi_and_webhooks import _late_success, _topics


def test_a_failed_automatic_refund_of_a_late_success_is_flagged_and_support_refunds_it_again(api, sandbox, support):
    payment_id = _late_success(api, sandbox)
    sandbox.control("/faults/next", {"provider": "upi", "operation": "refund", "mode": "refund_fail"})
    assert janitor() == ["payments.check_attempt:late_success_refunding", "payments.execute_attempt:refund_pending"]
    sandbox.advance(6)
    assert janitor() == ["payments.check_attempt:refund_failed"]
    (failed,) = Refund.objects.filter(payment_id=payment_id)
    assert (failed.status, failed.reason) == ("failed", "late_success")
    assert _topics(failed.id) == ["refund.failed"]
    assert attempts(payment_id)[-1].review_reason.startswith("automatic refund of a late success failed")
    # The payer's money is with the merchant now (no fee was taken on it).
    balances = merchant_balances(api.merchant.id)
    assert sum(m.amount for m in balances.available + balances.pending) == 499_00
    # Support sees it on the payment page and refunds it again.
    html = page(support, payment_id)
    assert "automatic refund of a late success failed" in html
    assert "Refund re_" in refund(support, payment_id).content.decode()
    retried = Refund.objects.filter(payment_id=payment_id).exclude(pk=failed.pk).get()
    assert (retried.amount, retried.requested_by) == (499_00, "admin:sam")
    assert AuditLogEntry.objects.filter(action="payment.refund", object_id=payment_id, outcome="ok").exists()
    janitor()
    sandbox.advance(6)
    janitor()
    assert Refund.objects.get(pk=retried.pk).status == "succeeded"
    balances = merchant_balances(api.merchant.id)
    assert sum(m.amount for m in balances.available + balances.pending) == 0
    assert verify_ledger().ok
