"""Card payments from the API through the executor to the live sandbox and back, and into the ledger."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.db.models.functions import Now
from django.utils import timezone

from ledger.models import JournalTransaction
from payments import tasks
from payments.enums import AttemptOutcome, OutboxKind, PaymentStatus
from payments.models import MerchantPricing, OutboxMessage, Payment, Refund
from payments.services.pricing import pricing_fee
from payments.tasks import payments_expire_overdue_task
from tests.conftest import PSP_TEST_CIRCUIT
from tests.payments.conftest import card_method, card_payment_body
from tests.payments.execution.conftest import attempts, drain, janitor, payment


def create(api, **overrides) -> str:
    response = api.post("/v1/payments", card_payment_body(confirm=True, **overrides))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "processing"
    return response.json()["id"]


def posting(payment_id: str):
    """The capture's journal transaction, if any."""
    return JournalTransaction.objects.filter(reference=f"payment:{payment_id}:capture").first()


def one_charge_each(sandbox, payment_ids) -> None:
    for payment_id in payment_ids:
        refs = {a.id for a in attempts(payment_id)}
        charges = [r for r in sandbox.records() if r["kind"] == "charge" and r["reference"] in refs]
        assert len(charges) == 1, (payment_id, charges)


def test_an_automatic_card_payment_succeeds_and_posts_gross_fee_and_net_to_the_ledger(api, sandbox):
    payment_id = create(api, amount=2000)
    assert drain() == ["payments.execute_attempt:succeeded"]
    paid = payment(payment_id)
    assert (paid.status, paid.amount_captured, paid.psp) == (PaymentStatus.SUCCEEDED, 2000, "card_a")
    (attempt,) = attempts(payment_id)
    assert (attempt.outcome, attempt.fee, attempt.locked_at) == (AttemptOutcome.SUCCEEDED, 88, None)
    assert attempt.provider_reference.startswith("ch_")
    entry = posting(payment_id)
    assert entry.metadata["fee"] == 88  # 2.9% + 30 of 2000: the platform's default card price
    assert entry.metadata["provider_reference"] == attempt.provider_reference
    one_charge_each(sandbox, [payment_id])
    assert api.get(f"/v1/payments/{payment_id}").json()["status"] == "succeeded"


def test_merchant_pricing_replaces_the_default_fee(api, sandbox):
    assert pricing_fee(merchant_id=api.merchant.id, payment_method_type="card", amount=2000) == 88
    MerchantPricing.objects.create(merchant=api.merchant, payment_method_type="card", fee_bps=100, fee_fixed=5)
    assert pricing_fee(merchant_id=api.merchant.id, payment_method_type="card", amount=2000) == 25
    assert pricing_fee(merchant_id=api.merchant.id, payment_method_type="upi", amount=10_000) == 30
    payment_id = create(api, amount=2000)
    drain()
    assert posting(payment_id).metadata["fee"] == 25


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
    ],
)
def test_each_decline_fails_the_payment_with_its_code_and_posts_nothing(api, sandbox, number, code):
    payment_id = create(api, payment_method=card_method(number))
    assert drain() == ["payments.execute_attempt:failed"]
    failed = payment(payment_id)
    assert (failed.status, failed.failure_code) == (PaymentStatus.FAILED, code)
    assert posting(payment_id) is None
    assert sandbox.records() == []


@pytest.mark.parametrize("amount_to_capture", [3000, 1800])
def test_manual_capture_full_and_partial(api, sandbox, amount_to_capture):
    payment_id = create(api, amount=3000, capture_method="manual")
    assert drain() == ["payments.execute_attempt:requires_capture"]
    assert payment(payment_id).status == PaymentStatus.REQUIRES_CAPTURE
    response = api.post(f"/v1/payments/{payment_id}/capture", {"amount_to_capture": amount_to_capture})
    assert response.status_code == 200, response.content
    assert drain() == ["payments.execute_attempt:captured"]
    captures = [r for r in sandbox.records() if r["kind"] == "capture"]
    assert [c["amount"] for c in captures] == [amount_to_capture]
    assert posting(payment_id).metadata["gross"] == amount_to_capture


def test_a_refund_run_before_its_capture_waits_for_it_instead_of_failing(api, sandbox):
    """Found while building tests/audit/test_api_stateful.py: a refund right after a manual capture is accepted (the
    payment is succeeded at once), and a second worker thread may run its call before the capture's. The provider
    then still holds an authorization and refused the refund: the merchant's refund failed."""
    payment_id = create(api, amount=3000, capture_method="manual")
    drain()
    assert api.post(f"/v1/payments/{payment_id}/capture").status_code == 200
    refund = api.post("/v1/refunds", {"payment": payment_id, "amount": 500})
    assert refund.status_code == 200, refund.content
    capture_row, refund_row = OutboxMessage.objects.filter(kind=OutboxKind.COMMAND, published_at=None).order_by("id")
    OutboxMessage.objects.filter(pk=refund_row.pk).update(published_at=Now())

    assert tasks.execute_attempt(**refund_row.payload) == "skipped"  # not sent: it waits for the capture
    (waiting,) = [a for a in attempts(payment_id) if a.operation == "refund"]
    assert (waiting.outcome, waiting.started_at, waiting.next_check_at is not None) == ("pending", None, True)
    assert drain() == ["payments.execute_attempt:captured"]
    janitor()

    assert Refund.objects.get(pk=refund.json()["id"]).status == "succeeded"
    assert [r["kind"] for r in sandbox.records()] == ["charge", "capture", "refund"]
    assert capture_row.topic == refund_row.topic == "payments.execute_attempt"


def test_canceling_an_authorization_voids_it_at_the_provider(api, sandbox):
    payment_id = create(api, amount=1500, capture_method="manual")
    drain()
    assert api.post(f"/v1/payments/{payment_id}/cancel").json()["status"] == "canceled"
    assert drain() == ["payments.execute_attempt:voided"]
    assert [r["kind"] for r in sandbox.records()] == ["charge", "void"]


def test_a_lost_response_is_unknown_until_the_janitor_finds_the_one_charge(api, sandbox):
    sandbox.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "lose_response"})
    payment_id = create(api)
    assert drain() == ["payments.execute_attempt:unknown"]
    assert payment(payment_id).status == PaymentStatus.PROCESSING
    assert attempts(payment_id)[0].outcome == AttemptOutcome.UNKNOWN
    assert janitor() == ["payments.check_attempt:succeeded"]
    assert payment(payment_id).status == PaymentStatus.SUCCEEDED
    one_charge_each(sandbox, [payment_id])


def test_a_timeout_the_provider_never_applied_fails_over_after_status_says_not_found(api, sandbox):
    sandbox.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "timeout", "seconds": 3})
    payment_id = create(api)
    assert drain() == ["payments.execute_attempt:unknown"]
    assert janitor() == ["payments.check_attempt:failover_to_card_b", "payments.execute_attempt:succeeded"]
    paid = payment(payment_id)
    assert (paid.status, paid.psp) == (PaymentStatus.SUCCEEDED, "card_b")
    first, second = attempts(payment_id)
    assert (first.outcome, first.failure_code, second.connector) == (AttemptOutcome.FAILED, "not_found", "card_b")
    one_charge_each(sandbox, [payment_id])


def test_an_unknown_outcome_is_asked_again_on_the_schedule_and_then_flagged(api, sandbox, settings):
    settings.PSP_UNKNOWN_RECHECK_SCHEDULE = [15, 60]
    # Charges and lookups fail with 500 (tokenization still works): nobody can tell what happened.
    sandbox.control(
        "/faults", {"provider": "card_a", "error_rate": 1.0, "operations": ["authorize", "lookup"], "seed": 1}
    )
    payment_id = create(api)
    assert drain() == ["payments.execute_attempt:unknown"]
    for _ in range(3):
        assert janitor() == ["payments.check_attempt:unknown"]
    (attempt,) = attempts(payment_id)
    assert attempt.checks == 3
    assert attempt.review_reason.startswith("unresolved")
    assert payment(payment_id).status == PaymentStatus.PROCESSING  # never failed on a guess
    sandbox.control("/reset")
    time.sleep(PSP_TEST_CIRCUIT["cooldown_seconds"] + 0.1)  # the lookups opened card_a's circuit: let it half-open
    janitor()
    # The provider, back, says it never saw it: the one proof that allows charging elsewhere.
    assert payment(payment_id).status == PaymentStatus.SUCCEEDED
    one_charge_each(sandbox, [payment_id])


def test_an_outage_opens_the_circuit_and_card_payments_fail_over_to_the_second_acquirer(api, sandbox):
    sandbox.control("/faults", {"provider": "card_a", "outage": True})
    # Tokenization at card_a fails too once its circuit is open; the payment still gets card_b's token.
    payment_ids = [create(api) for _ in range(6)]
    drain()
    outcomes = [payment(p).status for p in payment_ids]
    assert PaymentStatus.SUCCEEDED in outcomes
    sandbox.control("/reset")
    time.sleep(PSP_TEST_CIRCUIT["cooldown_seconds"] + 0.1)
    janitor()
    janitor()
    for payment_id in payment_ids:
        assert payment(payment_id).status == PaymentStatus.SUCCEEDED, attempts(payment_id)
    assert {payment(p).psp for p in payment_ids} == {"card_b"}
    one_charge_each(sandbox, payment_ids)
    assert not [r for r in sandbox.records() if r["provider"] == "card_a"]


@pytest.mark.parametrize(
    ("fault", "settled_by"),
    [
        ({"mode": "lose_response"}, ["payments.check_attempt:captured"]),
        # Never applied: the lookup finds the authorization untouched, the capture goes again with the same key.
        ({"mode": "timeout", "seconds": 3}, ["payments.check_attempt:retry_in_", "payments.execute_attempt:captured"]),
    ],
    ids=["applied-response-lost", "timeout-not-applied"],
)
def test_a_capture_whose_outcome_is_unknown_is_settled_by_looking_at_the_charge(api, sandbox, fault, settled_by):
    payment_id = create(api, amount=3000, capture_method="manual")
    drain()
    sandbox.control("/faults/next", {"provider": "card_a", "operation": "capture", **fault})
    api.post(f"/v1/payments/{payment_id}/capture", {"amount_to_capture": 2500})
    assert drain() == ["payments.execute_attempt:unknown"]
    outcomes = janitor() + drain(include_future=True)
    assert len(outcomes) == len(settled_by)
    assert all(outcome.startswith(prefix) for outcome, prefix in zip(outcomes, settled_by, strict=True)), outcomes
    assert [c["amount"] for c in sandbox.records() if c["kind"] == "capture"] == [2500]
    assert posting(payment_id).metadata["gross"] == 2500


def test_an_authorization_not_captured_in_seven_days_is_canceled_and_voided(api, sandbox):
    payment_id = create(api, amount=1200, capture_method="manual")
    drain()
    Payment.objects.filter(pk=payment_id).update(capture_before=timezone.now() - timedelta(seconds=1))
    assert payments_expire_overdue_task() == 1
    canceled = payment(payment_id)
    assert (canceled.status, canceled.cancellation_reason) == (PaymentStatus.CANCELED, "authorization_expired")
    assert drain() == ["payments.execute_attempt:voided"]
    assert [r["kind"] for r in sandbox.records()] == ["charge", "void"]


def test_a_retryable_decline_is_tried_again_with_new_keys_then_fails(api, sandbox, settings):
    settings.PSP_MAX_ATTEMPTS_PER_PAYMENT = 3
    payment_id = create(api, payment_method=card_method("4000000000000119"))  # always processing_error
    outcomes = drain(include_future=True)
    assert [o.split("_in_")[0] for o in outcomes] == [
        "payments.execute_attempt:retry",
        "payments.execute_attempt:retry",
        "payments.execute_attempt:failed",
    ]
    failed = payment(payment_id)
    assert (failed.status, failed.failure_code) == (PaymentStatus.FAILED, "processing_error")
    keys = {a.idempotency_key for a in attempts(payment_id)}
    assert len(keys) == 3
    assert sandbox.records() == []


def test_a_provider_clock_ahead_of_ours_dates_nothing_and_delays_no_release(api, sandbox, settings):
    settings.BALANCE_PENDING_SECONDS = 3600
    sandbox.advance(6 * 3600)  # the provider's clock runs six hours ahead of ours
    before = timezone.now()
    payment_id = create(api)
    drain()
    assert payment(payment_id).status == PaymentStatus.SUCCEEDED
    after = timezone.now()
    capture = JournalTransaction.objects.get(reference=f"payment:{payment_id}:capture")
    # Availability and ordering by our clock; the provider's time kept as a fact, its skew flagged.
    assert before <= capture.occurred_at <= after
    assert before + timedelta(seconds=3600) <= capture.available_on <= after + timedelta(seconds=3600)
    assert capture.metadata["provider_clock_skew_seconds"] >= 6 * 3600 - 60
    assert capture.metadata["provider_clock_skew_flagged"] is True
    assert capture.metadata["provider_occurred_at"] > after.isoformat()
    (txn,) = [t for t in api.get("/v1/balance_transactions").json()["data"] if t["source"] == payment_id]
    assert datetime.fromisoformat(txn["created"]) <= after  # not dated in the future
