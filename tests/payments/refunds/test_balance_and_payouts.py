"""Balances read from the ledger, funds released by the periodic task, payouts that never overdraw."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.test import override_settings

from payments.enums import EventType, PayoutStatus
from payments.models import OutboxMessage, Payout
from payments.services.payouts import payout_fail
from payments.tasks import funds_release_due, payouts_advance_due
from tests.payments.refunds.helpers import captured_payment, concurrently


def balance(api) -> tuple[int, int]:
    body = api.get("/v1/balance").json()
    assert body["object"] == "balance"
    return sum(m["amount"] for m in body["available"]), sum(m["amount"] for m in body["pending"])


def test_a_capture_is_pending_until_released_then_available(api, sandbox):
    payment_id = captured_payment(api, 2000)  # the default card price: 2.9% + 30 = 88
    assert balance(api) == (0, 1912)
    (txn,) = api.get("/v1/balance_transactions").json()["data"]
    assert txn["id"].startswith("txn_")
    assert (txn["type"], txn["amount"], txn["fee"], txn["net"], txn["status"]) == ("payment", 2000, 88, 1912, "pending")
    assert (txn["source"], txn["currency"]) == (payment_id, "usd")
    assert funds_release_due() == 0  # not due for two days
    with override_settings(BALANCE_PENDING_SECONDS=0):
        assert funds_release_due() == 1
        assert funds_release_due() == 0  # once
    assert balance(api) == (1912, 0)
    (txn,) = api.get("/v1/balance_transactions").json()["data"]
    assert txn["status"] == "available"


def test_refunds_show_as_balance_transactions(api, sandbox):
    payment_id = captured_payment(api, 2000)
    api.post("/v1/refunds", {"payment": payment_id, "amount": 500})
    refund, payment = api.get("/v1/balance_transactions").json()["data"]
    assert (refund["type"], refund["net"], refund["fee"], refund["status"]) == ("refund", -500, 0, "available")
    assert payment["type"] == "payment"
    assert balance(api) == (0, 1412)


def test_balance_transactions_list_in_a_fixed_number_of_queries(api, sandbox, django_assert_max_num_queries):
    for _ in range(3):
        payment_id = captured_payment(api, 1000)
        api.post("/v1/refunds", {"payment": payment_id, "amount": 100})
    with django_assert_max_num_queries(4):  # key lookup, key touch, the page, nothing per row
        data = api.get("/v1/balance_transactions", {"limit": 100}).json()["data"]
    assert [t["type"] for t in data].count("refund") == 3


def test_a_payout_takes_only_what_is_available(api, sandbox):
    response = api.post("/v1/payouts", {"amount": 1, "currency": "usd"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "insufficient_funds")
    assert not Payout.objects.exists()
    captured_payment(api, 2000)
    with override_settings(BALANCE_PENDING_SECONDS=0):
        funds_release_due()
    payout = api.post("/v1/payouts", {"amount": 1000, "currency": "usd"}).json()
    assert (payout["status"], payout["object"]) == ("pending", "payout")
    assert balance(api) == (912, 0)
    assert api.post("/v1/payouts", {"amount": 913, "currency": "usd"}).status_code == 400


def test_a_payout_goes_to_the_bank_is_paid_and_a_return_recredits(api, sandbox):
    captured_payment(api, 2000)
    with override_settings(BALANCE_PENDING_SECONDS=0):
        funds_release_due()
    payout_id = api.post("/v1/payouts", {"amount": 1500, "currency": "usd"}).json()["id"]
    assert payouts_advance_due() == {"sent": 1, "paid": 0}
    assert Payout.objects.get(pk=payout_id).status == PayoutStatus.IN_TRANSIT
    with override_settings(PAYOUT_TRANSIT_SECONDS=0):
        Payout.objects.filter(pk=payout_id).update(arrival_date=Now())
        assert payouts_advance_due() == {"sent": 0, "paid": 1}
    assert api.get(f"/v1/payouts/{payout_id}").json()["status"] == "paid"
    assert balance(api) == (412, 0)
    payout_fail(payout_id=payout_id, code="account_closed")  # the bank returned it after paid
    assert api.get(f"/v1/payouts/{payout_id}").json()["status"] == "failed"
    assert balance(api) == (1912, 0)
    topics = list(OutboxMessage.objects.filter(aggregate_id=payout_id).order_by("id").values_list("topic", flat=True))
    assert topics == [EventType.PAYOUT_PAID, EventType.PAYOUT_FAILED]
    types = [t["type"] for t in api.get("/v1/balance_transactions").json()["data"]]
    assert types[:2] == ["payout_failure", "payout"]


def test_a_pending_payout_can_be_canceled_and_its_money_comes_back(api, sandbox):
    captured_payment(api, 2000)
    with override_settings(BALANCE_PENDING_SECONDS=0):
        funds_release_due()
    payout_id = api.post("/v1/payouts", {"amount": 1000, "currency": "usd"}).json()["id"]
    assert api.post(f"/v1/payouts/{payout_id}/cancel").json()["status"] == "canceled"
    assert balance(api) == (1912, 0)
    assert api.post(f"/v1/payouts/{payout_id}/cancel").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_concurrent_payouts_never_overdraw(api, sandbox):
    assert connection.vendor == "postgresql"
    captured_payment(api, 2000)
    with override_settings(BALANCE_PENDING_SECONDS=0):
        funds_release_due()
    codes = concurrently(20, lambda: int(api.post("/v1/payouts", {"amount": 200, "currency": "usd"}).status_code))
    assert codes.count(200) == 9  # 9 * 200 = 1800 <= 1912 < 10 * 200
    assert codes.count(400) == 11
    assert Payout.objects.count() == 9
    assert balance(api) == (112, 0)
