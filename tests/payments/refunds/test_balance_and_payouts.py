"""Balances read from the ledger, funds released by the periodic task, payouts that never overdraw, and a merchant
that gives money back (refunds, chargebacks) before or after its funds are released never being paid it twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.test import override_settings
from django.utils import timezone

from ledger.models import JournalTransaction
from ledger.verification import verify_ledger
from payments.enums import EventType, PayoutStatus
from payments.models import OutboxMessage, Payment, Payout
from payments.services.funds import funds_release_due
from payments.services.payouts import payout_fail
from payments.tasks import payouts_advance_due
from tests.payments.execution.conftest import drain, janitor
from tests.payments.refunds.helpers import captured_payment, concurrently, release_due


def balance(api) -> tuple[int, int]:
    body = api.get("/v1/balance").json()
    assert body["object"] == "balance"
    return sum(m["amount"] for m in body["available"]), sum(m["amount"] for m in body["pending"])


def payout(api, amount: int):
    return api.post("/v1/payouts", {"amount": amount, "currency": "usd"})


def test_a_capture_is_pending_until_released_then_available(api, sandbox):
    payment_id = captured_payment(api, 2000)  # the default card price: 2.9% + 30 = 88
    assert balance(api) == (0, 1912)
    (txn,) = api.get("/v1/balance_transactions").json()["data"]
    assert txn["id"].startswith("txn_")
    assert (txn["type"], txn["amount"], txn["fee"], txn["net"], txn["status"]) == ("payment", 2000, 88, 1912, "pending")
    assert (txn["source"], txn["currency"]) == (payment_id, "usd")
    assert funds_release_due() == 0  # not due for two days
    assert release_due(days=1.9) == 0
    assert release_due() == 1
    assert release_due() == 0  # once
    assert balance(api) == (1912, 0)
    assert verify_ledger().ok


def test_available_on_is_fixed_when_posted_a_later_setting_never_rewrites_history(api, sandbox):
    captured_payment(api, 2000)
    (before,) = api.get("/v1/balance_transactions").json()["data"]
    with override_settings(BALANCE_PENDING_SECONDS=0):
        (after,) = api.get("/v1/balance_transactions").json()["data"]
        assert funds_release_due() == 0  # the payment's own date decides, not today's setting
    assert after["available_on"] == before["available_on"]
    assert after["status"] == "pending"


def test_refunds_show_as_balance_transactions(api, sandbox):
    payment_id = captured_payment(api, 2000)
    api.post("/v1/refunds", {"payment": payment_id, "amount": 500})
    refund, payment = api.get("/v1/balance_transactions").json()["data"]
    assert (refund["type"], refund["net"], refund["fee"]) == ("refund", -500, 0)
    # It was taken from the payment's pending funds (nothing was available), so it is pending with them, on the
    # day they would have become available: the balance transaction says where the money came from.
    assert (refund["status"], refund["available_on"]) == ("pending", payment["available_on"])
    assert payment["type"] == "payment"
    assert balance(api) == (0, 1412)


def test_a_refund_from_available_funds_is_available_at_once(api, sandbox):
    captured_payment(api, 2000)
    release_due()
    payment_id = captured_payment(api, 2000)
    api.post("/v1/refunds", {"payment": payment_id, "amount": 500})
    refund = api.get("/v1/balance_transactions").json()["data"][0]
    assert (refund["type"], refund["status"]) == ("refund", "available")
    assert balance(api) == (1412, 1912)  # available first; the new payment's pending funds untouched


def test_balance_transactions_list_in_a_fixed_number_of_queries(api, sandbox, django_assert_max_num_queries):
    for _ in range(3):
        payment_id = captured_payment(api, 1000)
        api.post("/v1/refunds", {"payment": payment_id, "amount": 100})
    with django_assert_max_num_queries(4):  # key lookup, key touch, the page, nothing per row
        data = api.get("/v1/balance_transactions", {"limit": 100}).json()["data"]
    assert [t["type"] for t in data].count("refund") == 3


def test_a_payout_takes_only_what_is_available(api, sandbox):
    response = payout(api, 1)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "insufficient_funds")
    assert "acc_" not in response.json()["error"]["message"]  # no internal ids
    assert not Payout.objects.exists()
    captured_payment(api, 2000)
    assert payout(api, 1).status_code == 400  # pending funds are not paid out
    release_due()
    body = payout(api, 1000).json()
    assert (body["status"], body["object"]) == ("pending", "payout")
    assert balance(api) == (912, 0)
    assert payout(api, 913).status_code == 400


def test_a_full_refund_while_pending_then_release_leaves_nothing_to_pay_out(api, sandbox):
    """Finding 1: refunded in full while pending, the release used to make the capture's whole net available."""
    payment_id = captured_payment(api, 10_000)  # net 9,680
    assert api.post("/v1/refunds", {"payment": payment_id}).status_code == 200
    assert balance(api) == (-320, 0)  # the merchant keeps paying our fee: it owes 320
    assert release_due() == 1
    assert balance(api) == (-320, 0)  # nothing was left to release
    response = payout(api, 9_680)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "insufficient_funds")
    assert payout(api, 1).status_code == 400  # a merchant that owes money is paid nothing
    assert Payment.objects.get(pk=payment_id).funds_pending == 0
    assert verify_ledger().ok


def test_a_partial_refund_while_pending_releases_only_what_is_left(api, sandbox):
    payment_id = captured_payment(api, 10_000)
    api.post("/v1/refunds", {"payment": payment_id, "amount": 4_000})
    assert balance(api) == (0, 5_680)
    release_due()
    assert balance(api) == (5_680, 0)
    assert payout(api, 5_681).status_code == 400
    assert payout(api, 5_680).status_code == 200
    assert verify_ledger().ok


def test_a_refund_larger_than_its_pending_funds_never_takes_another_payments(api, sandbox):
    first = captured_payment(api, 10_000)
    captured_payment(api, 5_000)  # net 4,825, pending
    api.post("/v1/refunds", {"payment": first})
    assert balance(api) == (-320, 4_825)
    release_due()
    assert balance(api) == (4_505, 0)  # the second payment's release pays back what is owed
    assert payout(api, 4_506).status_code == 400
    assert payout(api, 4_505).status_code == 200
    assert verify_ledger().ok


def test_a_refund_that_fails_after_the_release_gives_the_money_back_available(api, sandbox):
    payment_id = captured_payment(api, 10_000)
    sandbox.control("/faults/next", {"provider": "card_a", "operation": "refund", "mode": "refund_fail"})
    refund_id = api.post("/v1/refunds", {"payment": payment_id, "amount": 4_000}).json()["id"]
    assert drain() == ["payments.execute_attempt:refund_pending"]
    assert balance(api) == (0, 5_680)
    release_due()  # the payment's remaining 5,680 is released while the refund is still pending
    assert balance(api) == (5_680, 0)
    sandbox.advance(6)
    assert janitor() == ["payments.check_attempt:refund_failed"]
    assert api.get(f"/v1/refunds/{refund_id}").json()["status"] == "failed"
    # Its 4,000 came from pending funds that no longer wait for a release: it comes back available.
    assert balance(api) == (9_680, 0)
    assert payout(api, 9_680).status_code == 200
    assert verify_ledger().ok


def test_the_release_runs_once_even_when_two_run_together(api, sandbox, transactional_db):
    captured_payment(api, 2000)
    results = concurrently(4, lambda: release_due())
    assert sum(results) == 1
    assert JournalTransaction.objects.filter(reference__endswith=":release").count() == 1
    assert balance(api) == (1912, 0)


def test_a_payout_goes_to_the_bank_is_paid_and_a_return_recredits(api, sandbox):
    captured_payment(api, 2000)
    release_due()
    payout_id = payout(api, 1500).json()["id"]
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
    release_due()
    payout_id = payout(api, 1000).json()["id"]
    assert api.post(f"/v1/payouts/{payout_id}/cancel").json()["status"] == "canceled"
    assert balance(api) == (1912, 0)
    assert api.post(f"/v1/payouts/{payout_id}/cancel").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_concurrent_payouts_never_overdraw(api, sandbox):
    assert connection.vendor == "postgresql"
    captured_payment(api, 2000)
    release_due()
    codes = concurrently(20, lambda: int(payout(api, 200).status_code))
    assert codes.count(200) == 9  # 9 * 200 = 1800 <= 1912 < 10 * 200
    assert codes.count(400) == 11
    assert Payout.objects.count() == 9
    assert balance(api) == (112, 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_and_payouts_never_pay_out_what_was_given_back(api, sandbox):
    """Finding 1 under load: refunds racing payouts on real connections. Whatever the order, no payout ever took
    the available balance below zero (so it never paid out money already given back), and every cent is accounted
    for; a refund after a payout leaves the merchant owing, which is recorded, not lost."""
    payments = [captured_payment(api, 10_000) for _ in range(3)]  # 3 x 9,680 net
    release_due()
    assert balance(api) == (29_040, 0)

    def one(n: int) -> int:
        if n % 2:
            return int(api.post("/v1/refunds", {"payment": payments[n % 3]}).status_code)
        return int(payout(api, 9_680).status_code)

    counter = iter(range(12))
    concurrently(12, lambda: one(next(counter)))
    available, pending = balance(api)
    paid = sum(p.amount for p in Payout.objects.all())
    refunded = sum(p.amount_refunded for p in Payment.objects.filter(pk__in=payments))
    assert available + pending + paid + refunded == 29_040
    assert paid <= 29_040
    report = verify_ledger()
    assert report.ok, report.violations  # among its checks: payout_exceeds_earnings, at every payout


def test_release_dates_follow_our_clock_not_the_providers(api, sandbox):
    payment_id = captured_payment(api, 2000)
    capture = JournalTransaction.objects.get(reference=f"payment:{payment_id}:capture")
    assert abs(capture.available_on - (timezone.now() + timedelta(days=2))) < timedelta(minutes=1)
