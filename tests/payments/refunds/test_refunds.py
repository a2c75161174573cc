"""Refunds from the API through the executor to the live sandbox and back, into the ledger and the events."""

from __future__ import annotations

import pytest
from django.db import connection

from ledger.balances import merchant_balances
from ledger.models import JournalTransaction
from payments.enums import EventType
from payments.models import OutboxMessage, Payment, Refund
from tests.payments.conftest import card_payment_body, make_api
from tests.payments.execution.conftest import drain, janitor
from tests.payments.execution.test_upi_and_webhooks import forward
from tests.payments.refunds.helpers import captured_payment, concurrently, ledger_refunded
from tests.psp_sandbox import receiving


def totals(merchant_id: str) -> tuple[int, int]:
    balances = merchant_balances(merchant_id)
    return sum(m.amount for m in balances.available), sum(m.amount for m in balances.pending)


def events(refund_id: str) -> list[str]:
    return list(OutboxMessage.objects.filter(aggregate_id=refund_id).order_by("id").values_list("topic", flat=True))


def test_a_refund_defaults_to_what_is_left_and_succeeds_at_the_provider(api, sandbox):
    payment_id = captured_payment(api, 2000)
    first = api.post("/v1/refunds", {"payment": payment_id, "amount": 500, "reason": "requested_by_customer"})
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "pending"
    assert first.json()["object"] == "refund"
    assert first.json()["id"].startswith("re_")
    rest = api.post("/v1/refunds", {"payment": payment_id}).json()
    assert rest["amount"] == 1500
    assert Payment.objects.get(pk=payment_id).amount_refunded == 2000
    assert drain() == ["payments.execute_attempt:refund_succeeded"] * 2
    for refund_id in (first.json()["id"], rest["id"]):
        assert api.get(f"/v1/refunds/{refund_id}").json()["status"] == "succeeded"
        assert events(refund_id) == [EventType.REFUND_SUCCEEDED]
    assert ledger_refunded(first.json()["id"]) == 500
    assert sorted(r["amount"] for r in sandbox.records() if r["kind"] == "refund") == [500, 1500]
    listed = api.get("/v1/refunds", {"payment": payment_id}).json()
    assert [r["id"] for r in listed["data"]] == [rest["id"], first.json()["id"]]
    assert api.get(f"/v1/payments/{payment_id}").json()["amount_refunded"] == 2000


def test_more_than_the_refundable_amount_is_refused(api, sandbox):
    payment_id = captured_payment(api, 1000)
    assert api.post("/v1/refunds", {"payment": payment_id, "amount": 600}).status_code == 200
    response = api.post("/v1/refunds", {"payment": payment_id, "amount": 401})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "amount_exceeds_refundable"
    assert response.json()["error"]["param"] == "amount"
    assert Refund.objects.count() == 1


def test_refunding_a_fully_refunded_payment_says_so(api, sandbox):
    """It said "Refund amount (0) is greater than the payment's refundable amount (0)" (issue 12)."""
    payment_id = captured_payment(api, 1000)
    assert api.post("/v1/refunds", {"payment": payment_id}).status_code == 200
    for body in ({"payment": payment_id}, {"payment": payment_id, "amount": 1}):
        error = api.post("/v1/refunds", body).json()["error"]
        assert (error["code"], error["param"]) == ("charge_already_refunded", "payment")
        assert error["message"] == "This payment has already been refunded in full."
    assert Refund.objects.count() == 1


def test_an_unknown_or_uncaptured_payment_cannot_be_refunded(api, sandbox):
    assert api.post("/v1/refunds", {"payment": "pay_nope"}).status_code == 404
    unconfirmed = api.post("/v1/payments", card_payment_body()).json()["id"]
    response = api.post("/v1/refunds", {"payment": unconfirmed})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "payment_unexpected_state")
    other = make_api(name="Other")
    payment_id = captured_payment(api, 1000)
    assert other.post("/v1/refunds", {"payment": payment_id}).status_code == 404
    assert other.get("/v1/refunds").json()["data"] == []


def test_a_refund_the_provider_fails_after_accepting_gives_the_money_back(api, sandbox):
    payment_id = captured_payment(api, 3000)
    merchant_id = api.merchant.id
    before = totals(merchant_id)
    sandbox.control("/faults/next", {"provider": "card_a", "operation": "refund", "mode": "refund_fail"})
    refund = api.post("/v1/refunds", {"payment": payment_id, "amount": 1000}).json()
    assert drain() == ["payments.execute_attempt:refund_pending"]
    assert Refund.objects.get(pk=refund["id"]).status == "pending"
    assert ledger_refunded(refund["id"]) == 1000  # the balance pays for it at once
    sandbox.advance(6)
    assert janitor() == ["payments.check_attempt:refund_failed"]
    body = api.get(f"/v1/refunds/{refund['id']}").json()
    assert body["status"] == "failed"
    assert body["failure_reason"]
    assert events(refund["id"]) == [EventType.REFUND_FAILED]
    assert JournalTransaction.objects.filter(reference=f"refund:{refund['id']}:failed").exists()
    assert ledger_refunded(refund["id"]) == 0
    assert totals(merchant_id) == before
    assert Payment.objects.get(pk=payment_id).amount_refunded == 0
    # The whole amount is refundable again.
    assert api.post("/v1/refunds", {"payment": payment_id}).json()["amount"] == 3000


def test_refund_webhooks_from_the_provider_settle_a_pending_refund(api, sandbox):
    payment_id = captured_payment(api, 2000)
    with receiving(sandbox) as hook:
        sandbox.control("/faults/next", {"provider": "card_a", "operation": "refund", "mode": "refund_pending"})
        refund = api.post("/v1/refunds", {"payment": payment_id, "amount": 700}).json()
        assert drain() == ["payments.execute_attempt:refund_pending"]
        sandbox.advance(6)
        deliveries = hook.wait_for(lambda ds: any(d["event"]["type"] == "refund.succeeded" for d in ds))
    for delivery in deliveries:
        assert forward(delivery) == 200
    drain()
    assert Refund.objects.get(pk=refund["id"]).status == "succeeded"
    assert events(refund["id"]) == [EventType.REFUND_SUCCEEDED]


def test_the_same_idempotency_key_refunds_once(api, sandbox):
    payment_id = captured_payment(api, 2000)
    first = api.post("/v1/refunds", {"payment": payment_id, "amount": 300}, key="rf-1")
    again = api.post("/v1/refunds", {"payment": payment_id, "amount": 300}, key="rf-1")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Refund.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_capture(api, sandbox):
    """50 partial refunds at once, each on its own PostgreSQL connection: the sum never exceeds the capture,
    and the ledger and the sandbox's own records agree with us."""
    assert connection.vendor == "postgresql"
    payment_id = captured_payment(api, 2000)
    codes = concurrently(50, lambda: int(api.post("/v1/refunds", {"payment": payment_id, "amount": 150}).status_code))
    assert codes.count(200) == 13  # 13 * 150 = 1950 <= 2000 < 14 * 150
    assert codes.count(400) == 37
    assert Payment.objects.get(pk=payment_id).amount_refunded == 1950
    drain(rounds=5)
    refunds = list(Refund.objects.filter(payment_id=payment_id))
    assert {r.status for r in refunds} == {"succeeded"}
    assert sum(ledger_refunded(r.id) for r in refunds) == 1950
    provider = [r for r in sandbox.records() if r["kind"] == "refund"]
    assert sum(r["amount"] for r in provider) == 1950
    assert len(provider) == 13


def test_a_refund_the_provider_never_received_is_sent_again_not_left_in_doubt(api, sandbox):
    """Found by the chaos run: the refund's call hung and timed out before the provider did anything, so its
    outcome was unknown; every lookup then said the provider never saw it (404), and the refund stayed unknown
    until a person was asked, the payer never refunded. A lookup that proves it never arrived sends it again."""
    payment_id = captured_payment(api, 2000)
    sandbox.control("/faults/next", {"provider": "card_a", "operation": "refund", "mode": "timeout", "seconds": 3})
    refund = api.post("/v1/refunds", {"payment": payment_id, "amount": 700}).json()
    assert drain() == ["payments.execute_attempt:unknown"]
    assert [r for r in sandbox.records() if r["kind"] == "refund"] == []
    applied = janitor()
    assert applied == ["payments.check_attempt:retry_in_" + applied[0].rsplit("_", 1)[-1]]
    assert drain(include_future=True) == ["payments.execute_attempt:refund_succeeded"]
    assert api.get(f"/v1/refunds/{refund['id']}").json()["status"] == "succeeded"
    assert [r["amount"] for r in sandbox.records() if r["kind"] == "refund"] == [700]
