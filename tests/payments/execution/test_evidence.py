"""Evidence is checked, never trusted: what a provider says about an attempt must be about that attempt.

A correctly signed webhook or a status answer whose amount, currency or reference is not the attempt's is never
applied: nothing moves, nothing is posted, the attempt is flagged for a person and the provider's status API is
asked what really happened.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from ledger.models import JournalTransaction
from payments.connectors.sandbox_common import SIGNATURE_HEADER
from payments.enums import AttemptOutcome, PaymentStatus
from payments.models import OutboxMessage
from tests.payments.conftest import card_payment_body, upi_payment_body
from tests.payments.execution.conftest import attempts, drain, janitor, payment
from tests.payments.execution.test_upi_and_webhooks import forward
from tests.psp_sandbox import SECRETS, receiving


def signed(provider: str, event: dict) -> dict:
    """A delivery exactly as the provider would sign it, with its webhook secret (the sandbox's published one)."""
    raw = json.dumps(event).encode()
    t = int(time.time())
    signature = hmac.new(SECRETS[provider].encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    return {"path": f"/psp/webhooks/{provider}", "raw": raw, "headers": {SIGNATURE_HEADER: f"t={t},v1={signature}"}}


def upi_intent(api, amount: int) -> str:
    response = api.post("/v1/payments", {**upi_payment_body(flow="intent"), "amount": amount, "confirm": True})
    assert response.status_code == 200, response.content
    assert drain() == ["payments.execute_attempt:requires_action"]
    return response.json()["id"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"amount": 100}, "amount 100, expected 50000"),
        ({"currency": "usd"}, "currency 'usd', expected 'inr'"),
        ({"id": "upi_someone_elses"}, "provider reference 'upi_someone_elses'"),
    ],
    ids=["amount", "currency", "provider-reference"],
)
def test_a_signed_upi_success_that_is_not_about_the_attempt_moves_nothing(api, sandbox, change, problem):
    payment_id = upi_intent(api, 50_000)
    (attempt,) = attempts(payment_id)
    transaction = sandbox.get("upi", f"/transactions/{attempt.provider_reference}").json()
    forged = {**transaction, "status": "succeeded", "rrn": "123456789012", **change}
    event = {"id": "evt_forged_1", "object": "event", "type": "upi_transaction.succeeded", "data": {"object": forged}}

    assert forward(signed("upi", event)) == 200
    outcomes = drain()

    assert outcomes[0] == "payments.apply_provider_event:flagged"
    # The provider's status API was asked; it says the payer has not approved yet.
    assert outcomes[1:] == ["payments.check_attempt:still_waiting"]
    waiting = payment(payment_id)
    assert (waiting.status, waiting.amount_captured, waiting.upi_rrn) == (PaymentStatus.REQUIRES_ACTION, 0, "")
    assert not JournalTransaction.objects.filter(source_id=payment_id).exists()
    (attempt,) = attempts(payment_id)
    assert attempt.outcome == AttemptOutcome.PENDING
    assert attempt.review_reason.startswith("evidence_mismatch (webhook:upi_transaction.succeeded)")
    assert problem in attempt.review_reason
    assert not OutboxMessage.objects.filter(topic="payment.succeeded").exists()

    # The payer really pays: the provider's own webhook settles it, for the amount asked, and posts that.
    with receiving(sandbox) as hook:
        sandbox.http.post(f"/upi/v1/transactions/{attempt.provider_reference}/approve", json={})
        hook.wait_for(lambda ds: any(d["event"]["type"] == "upi_transaction.succeeded" for d in ds))
    assert forward(hook.of_type("upi_transaction.succeeded")[0]) == 200
    assert drain() == ["payments.apply_provider_event:succeeded"]
    assert payment(payment_id).status == PaymentStatus.SUCCEEDED
    (posting,) = JournalTransaction.objects.filter(source_id=payment_id)
    assert posting.metadata["gross"] == 50_000


def test_a_status_answer_for_another_amount_is_flagged_and_never_posted(api, sandbox):
    # The call never lands; then a charge for another amount appears under our reference at the provider.
    sandbox.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "timeout", "seconds": 3})
    response = api.post("/v1/payments", card_payment_body(confirm=True, amount=2000))
    payment_id = response.json()["id"]
    assert drain() == ["payments.execute_attempt:unknown"]
    (attempt,) = attempts(payment_id)
    assert sandbox.charge(amount=100, reference=attempt.id).status_code == 200

    assert janitor() == ["payments.check_attempt:flagged"]

    (attempt,) = attempts(payment_id)
    assert attempt.outcome == AttemptOutcome.UNKNOWN
    assert attempt.next_check_at is None  # the provider's own status API disagrees: a person decides
    assert "asked for 2000" in attempt.review_reason
    assert payment(payment_id).status == PaymentStatus.PROCESSING
    assert not JournalTransaction.objects.filter(source_id=payment_id).exists()
