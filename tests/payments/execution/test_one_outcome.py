"""One provider outcome, however it is learned: the worker's call, a status lookup, or the provider's webhooks.

The race these tests pin down: a lost authorize response, and the provider's ``charge.authorized`` and
``charge.captured`` webhooks arriving before (or after, or between) the janitor's status lookup. Whatever the
order, an automatic-capture payment ends ``succeeded`` with its capture posted once; a manual-capture payment ends
``requires_capture`` until the merchant captures. Arrival order never decides the result.
"""

from __future__ import annotations

import itertools
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.models import JournalTransaction
from ledger.verification import verify_ledger
from payments.enums import AttemptOperation, AttemptOutcome, PaymentStatus
from payments.services.attempts.apply import attempt_result_apply
from payments.services.attempts.call import attempt_call
from payments.services.attempts.claim import attempt_claim
from tests.payments.conftest import card_payment_body
from tests.payments.execution.conftest import attempts, drain, janitor, payment
from tests.payments.execution.test_upi_and_webhooks import forward
from tests.psp_sandbox import receiving


def create(api, **overrides) -> str:
    response = api.post("/v1/payments", card_payment_body(confirm=True, **overrides))
    assert response.status_code == 200, response.content
    return response.json()["id"]


def captures(payment_id: str) -> list[JournalTransaction]:
    return list(JournalTransaction.objects.filter(reference=f"payment:{payment_id}:capture"))


def webhook(hook, event_type: str):
    hook.wait_for(lambda ds: any(d["event"]["type"] == event_type for d in ds))
    return hook.of_type(event_type)[0]


def learn(step: str, hook) -> list[str]:
    """Applies one piece of evidence: a webhook the provider sent (handed to the platform), or a status lookup."""
    if step == "lookup":
        return janitor()
    assert forward(webhook(hook, f"charge.{step}")) == 200
    return drain()


AUTOMATIC_ORDERS = list(itertools.permutations(["authorized", "captured", "lookup"]))


@pytest.mark.parametrize("order", AUTOMATIC_ORDERS, ids=["-".join(o) for o in AUTOMATIC_ORDERS])
def test_an_automatic_payment_whose_response_was_lost_succeeds_once_in_any_order(api, sandbox, order):
    with receiving(sandbox) as hook:
        sandbox.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "lose_response"})
        payment_id = create(api, amount=2000)
        assert drain() == ["payments.execute_attempt:unknown"]
        hook.wait_for(lambda ds: {"charge.authorized", "charge.captured"} <= {d["event"]["type"] for d in ds})
        for step in order:
            learn(step, hook)
        # Every piece of evidence again, in reverse: the same evidence twice changes nothing.
        for step in reversed(order):
            learn(step, hook)
    paid = payment(payment_id)
    assert (paid.status, paid.amount_captured) == (PaymentStatus.SUCCEEDED, 2000)
    (attempt,) = attempts(payment_id)
    assert (attempt.outcome, attempt.review_reason) == (AttemptOutcome.SUCCEEDED, "")
    (posting,) = captures(payment_id)
    assert posting.metadata["gross"] == 2000
    assert posting.metadata["provider_reference"] == attempt.provider_reference
    history = list(paid.state_changes.values_list("to_status", flat=True))
    assert history == ["requires_confirmation", "processing", "succeeded"]
    # The charge was captured: the merchant cannot cancel the payment (a void would be refused, the money kept).
    assert api.post(f"/v1/payments/{payment_id}/cancel").status_code == 400
    assert verify_ledger().ok


MANUAL_ORDERS = list(itertools.permutations(["authorized", "lookup"]))


@pytest.mark.parametrize("order", MANUAL_ORDERS, ids=["-".join(o) for o in MANUAL_ORDERS])
def test_a_manual_payment_whose_response_was_lost_waits_for_capture_in_any_order(api, sandbox, order):
    with receiving(sandbox) as hook:
        sandbox.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "lose_response"})
        payment_id = create(api, amount=3000, capture_method="manual")
        assert drain() == ["payments.execute_attempt:unknown"]
        for step in [*order, *order]:
            learn(step, hook)
        authorized = payment(payment_id)
        assert authorized.status == PaymentStatus.REQUIRES_CAPTURE
        assert captures(payment_id) == []

        # The merchant captures part of it; the capture's response is lost too, and the provider's
        # ``charge.captured`` webhook (about the charge, under the authorization's reference) comes first.
        sandbox.control("/faults/next", {"provider": "card_a", "operation": "capture", "mode": "lose_response"})
        assert api.post(f"/v1/payments/{payment_id}/capture", {"amount_to_capture": 2500}).status_code == 200
        assert drain() == ["payments.execute_attempt:unknown"]
        assert learn("captured", hook) == ["payments.apply_provider_event:captured"]
        assert learn("lookup", hook) == []
        learn("captured", hook)
    authorize, capture = attempts(payment_id)
    assert (authorize.operation, authorize.outcome) == (AttemptOperation.AUTHORIZE, AttemptOutcome.SUCCEEDED)
    assert (capture.operation, capture.outcome) == (AttemptOperation.CAPTURE, AttemptOutcome.SUCCEEDED)
    assert not authorize.review_reason
    assert not capture.review_reason
    (posting,) = captures(payment_id)
    assert posting.metadata["gross"] == 2500
    assert [r["amount"] for r in sandbox.records() if r["kind"] == "capture"] == [2500]
    assert verify_ledger().ok


def test_a_timeout_after_the_provider_applied_the_charge_succeeds_once_with_early_webhooks(api, sandbox):
    with receiving(sandbox) as hook:
        sandbox.control(
            "/faults/next",
            {"provider": "card_a", "operation": "authorize", "mode": "timeout", "seconds": 3, "apply": True},
        )
        payment_id = create(api)
        assert drain() == ["payments.execute_attempt:unknown"]
        learn("authorized", hook)
        assert payment(payment_id).status == PaymentStatus.PROCESSING  # an authorization alone is not the answer
        learn("captured", hook)
        learn("lookup", hook)
    assert payment(payment_id).status == PaymentStatus.SUCCEEDED
    assert len(captures(payment_id)) == 1
    assert [r["kind"] for r in sandbox.records()] == ["charge", "capture"]


def _table(sql: str) -> str:
    """The table a statement reads or writes (its own, not a subquery's)."""
    while re.search(r"\([^()]*\)", sql):
        sql = re.sub(r"\([^()]*\)", "", sql)  # subqueries and column lists out
    match = re.match(r'^(?:SELECT .*? FROM|UPDATE|INSERT INTO) "(\w+)"', sql)
    return match.group(1) if match else ""


def _statements(queries, verb: str, table: str) -> int:
    return sum(1 for q in queries if table in _written(q["sql"], verb))


def _written(sql: str, verb: str) -> list[str]:
    """The tables a statement writes with ``verb``: its own, or each insert of ``core.db.insert_together``'s
    one statement (``WITH i0 AS (INSERT INTO "t" …), i1 AS (…) SELECT …``)."""
    if verb == "INSERT" and sql.startswith("WITH i0 AS (INSERT INTO "):
        return re.findall(r'\bi\d+ AS \(INSERT INTO "(\w+)"', sql)
    return [_table(sql)] if sql.startswith(verb) else []


def _locks(queries, table: str) -> int:
    return sum(1 for q in queries if re.search(r" FOR UPDATE( OF [^)]*)?$", q["sql"]) and _table(q["sql"]) == table)


def test_applying_a_success_takes_one_lock_and_one_save_per_row(api, sandbox):
    payment_id = create(api, amount=2000)
    (attempt,) = attempts(payment_id)
    claim = attempt_claim(attempt_id=attempt.id)
    result = attempt_call(claim)
    with CaptureQueriesContext(connection) as captured:
        assert attempt_result_apply(attempt_id=attempt.id, result=result, source="call") == "succeeded"
    queries = captured.captured_queries
    assert _locks(queries, "payments_payment") == 1
    assert _locks(queries, "payments_paymentattempt") == 1  # every attempt of the payment, in one statement
    assert _statements(queries, "UPDATE", "payments_payment") == 1
    assert _statements(queries, "UPDATE", "payments_paymentattempt") == 1
    assert _statements(queries, "INSERT", "payments_paymentstatechange") == 1
    assert _statements(queries, "INSERT", "payments_outboxmessage") == 1  # payment.succeeded, its payload built once
    assert _statements(queries, "SELECT", "payments_merchantpricing") == 0  # the price came with the payment
    assert payment(payment_id).status == PaymentStatus.SUCCEEDED

    # The same evidence again: the two locks, and nothing written.
    with CaptureQueriesContext(connection) as again:
        outcome = attempt_result_apply(attempt_id=attempt.id, result=result, source="webhook:charge.captured")
    assert outcome == "already_applied"
    statements = [q["sql"].split()[0] for q in again.captured_queries]
    assert statements == ["BEGIN", "SELECT", "SELECT", "COMMIT"]


def test_applying_a_capture_saves_the_capture_and_its_authorization_once_each(api, sandbox):
    payment_id = create(api, amount=3000, capture_method="manual")
    drain()
    assert api.post(f"/v1/payments/{payment_id}/capture", {"amount_to_capture": 1000}).status_code == 200
    authorization, capture = attempts(payment_id)
    result = attempt_call(attempt_claim(attempt_id=capture.id))
    with CaptureQueriesContext(connection) as captured:
        assert attempt_result_apply(attempt_id=capture.id, result=result, source="call") == "captured"
    queries = captured.captured_queries
    assert (_locks(queries, "payments_payment"), _locks(queries, "payments_paymentattempt")) == (1, 1)
    # The capture closed; the authorization learns the provider's fee on the charge; the payment moved already.
    assert _statements(queries, "UPDATE", "payments_paymentattempt") == 2
    assert _statements(queries, "UPDATE", "payments_payment") == 1  # its funds, pending from now
    authorization.refresh_from_db()
    assert authorization.fee == result.fee > 0
