"""Each report's totals equal the ledger's for the same period, with real payments through the PSP sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Sum

from ledger.balances import balance, merchant_balances
from ledger.models import Account, JournalEntry, JournalTransaction
from ledger.references import captures
from payments.models import Payment, Payout
from tests.payments.conftest import card_payment_body, make_api
from tests.payments.execution.conftest import drain
from tests.payments.refunds.helpers import captured_payment, ledger_refunded, release_due
from tests.reports.helpers import column_total, csv_report, minor, scope

pytestmark = pytest.mark.usefixtures("sandbox")


def _ledger_capture_totals(merchant_id: str) -> tuple[int, int]:
    gross = fee = 0
    for txn in captures().filter(metadata__merchant_id=merchant_id):
        gross += int(txn.metadata["gross"])
        fee += int(txn.metadata["fee"])
    return gross, fee


@pytest.fixture
def history(api):
    """Merchant A: three captures, a decline, a partial refund, a release and a payout. Merchant B: one capture
    (so every report of A must leave B out)."""
    paid = [captured_payment(api, amount) for amount in (2000, 3000, 1500)]
    declined = api.post(
        "/v1/payments",
        card_payment_body(
            confirm=True,
            payment_method={
                "type": "card",
                "card": {"number": "4000000000000002", "exp_month": 12, "exp_year": 2039, "cvc": "123"},
            },
        ),
    )
    assert declined.status_code == 200, declined.content
    drain()
    refund = api.post("/v1/refunds", {"payment": paid[0], "amount": 500})
    assert refund.status_code == 200, refund.content
    drain()
    release_due()
    payout = api.post("/v1/payouts", {"amount": 1000, "currency": "usd"})
    assert payout.status_code == 200, payout.content
    drain()
    other = make_api(name="Other")
    captured_payment(other, 4000)
    return {"api": api, "paid": paid, "declined": declined.json()["id"], "refund": refund.json()["id"], "other": other}


def test_csv_opens_in_excel_bom_and_crlf(history):
    raw, rows = csv_report("payments", scope(history["api"].merchant.id))
    assert raw.startswith(b"\xef\xbb\xbfid,created,")
    assert b"\r\n" in raw
    assert raw.count(b"\r\n") == raw.count(b"\n") == len(rows) + 1


def test_payments_report_equals_the_ledger_and_shows_every_attempt(history):
    merchant_id = history["api"].merchant.id
    _, rows = csv_report("payments", scope(merchant_id))
    assert {r["id"] for r in rows} == {*history["paid"], history["declined"]}
    gross, fee = _ledger_capture_totals(merchant_id)
    assert column_total(rows, "amount_captured") == gross == 6500
    assert column_total(rows, "fee") == fee > 0
    assert column_total(rows, "net") == gross - fee
    assert column_total(rows, "amount_refunded") == 500
    declined = next(r for r in rows if r["id"] == history["declined"])
    assert declined["status"] == "failed"
    assert declined["failure_code"] == "generic_decline"
    assert ":failed" in declined["attempt_outcomes"]
    captured = next(r for r in rows if r["id"] == history["paid"][1])
    assert captured["attempt_outcomes"].startswith("authorize:card_a:succeeded")


def test_balance_transactions_report_is_the_api_list_and_nets_to_the_balance(history):
    api = history["api"]
    _, rows = csv_report("balance_transactions", scope(api.merchant.id))
    listed = api.get("/v1/balance_transactions", {"limit": 100}).json()["data"]
    assert sorted(r["id"] for r in rows) == sorted(t["id"] for t in listed)
    by_id = {t["id"]: t for t in listed}
    for row in rows:
        api_row = by_id[row["id"]]
        assert minor(row["net"], "usd") == api_row["net"]
        assert minor(row["fee"], "usd") == api_row["fee"]
        assert minor(row["amount"], "usd") == api_row["amount"]
        assert row["type"] == api_row["type"]
    balances = merchant_balances(api.merchant.id)
    assert column_total(rows, "net") == sum(m.amount for m in balances.available + balances.pending)


def test_refunds_and_payouts_reports_equal_their_ledger_postings(history):
    merchant_id = history["api"].merchant.id
    _, refunds = csv_report("refunds", scope(merchant_id))
    assert [r["id"] for r in refunds] == [history["refund"]]
    assert column_total(refunds, "amount") == ledger_refunded(history["refund"]) == 500

    _, payouts = csv_report("payouts", scope(merchant_id))
    payout = Payout.objects.get(merchant_id=merchant_id)
    posted = JournalTransaction.objects.get(reference=f"payout:{payout.id}")
    debited = sum(e.amount for e in posted.entries.all() if e.direction == "debit")
    assert column_total(payouts, "amount") == debited == 1000


def test_fees_report_equals_the_ledger_captures_and_fee_revenue(history):
    merchant_id = history["api"].merchant.id
    _, rows = csv_report("fees", scope(merchant_id))
    gross, fee = _ledger_capture_totals(merchant_id)
    assert [(r["connector"], r["payment_method"], r["currency"], r["payments"]) for r in rows] == [
        ("card_a", "card", "usd", "3")
    ]
    assert column_total(rows, "gross") == gross
    assert column_total(rows, "fee") == fee
    # Every merchant: the fee column is the platform's fee revenue account's credits from captures.
    _, everyone = csv_report("fees", scope(None))
    revenue = JournalEntry.objects.filter(
        account__code="platform:usd:fee_revenue", transaction__in=captures()
    ).aggregate(total=Sum("amount"))["total"]
    assert column_total(everyone, "fee") == revenue


def test_trial_balance_debits_equal_credits_and_each_balance_is_the_ledgers(history):
    _, rows = csv_report("trial_balance", scope(None))
    totals = [r for r in rows if r["code"] == "TOTAL"]
    accounts = [r for r in rows if r["code"] != "TOTAL"]
    assert [t["currency"] for t in totals] == ["usd"]
    assert totals[0]["debits"] == totals[0]["credits"]
    entries = JournalEntry.objects.filter(currency="usd").aggregate(total=Sum("amount"))["total"]
    assert minor(totals[0]["debits"], "usd") * 2 == entries
    assert len(accounts) == Account.objects.count()
    for row in accounts:
        assert minor(row["balance"], "usd") == balance(Account.objects.get(code=row["code"])).amount


def test_trial_balance_as_of_yesterday_leaves_todays_postings_out(history):
    end = scope(None).date_to - timedelta(days=1)
    _, rows = csv_report("trial_balance", scope(None, to=end))
    assert rows == []


def test_balances_owed_lists_the_merchants_whose_available_balance_is_negative(history):
    api = history["api"]
    assert csv_report("balances_owed", scope(None))[1] == []
    # Pay out everything available, then refund a released payment in full: the merchant now owes.
    available = sum(m.amount for m in merchant_balances(api.merchant.id).available)
    assert api.post("/v1/payouts", {"amount": available, "currency": "usd"}).status_code == 200
    drain()
    assert api.post("/v1/refunds", {"payment": history["paid"][1]}).status_code == 200
    drain()
    owed = -sum(m.amount for m in merchant_balances(api.merchant.id).available)
    assert owed > 0
    _, rows = csv_report("balances_owed", scope(None))
    assert [(r["merchant_id"], minor(r["owed"], "usd")) for r in rows] == [(api.merchant.id, owed)]
    assert Payment.objects.filter(pk=history["paid"][1], amount_refunded=3000).exists()


def test_disputes_report_equals_the_chargebacks_the_ledger_took(transactional_db):
    call_command("seed_history", days=4, per_day=15, verbosity=0)
    _, rows = csv_report("disputes", scope(None, days_back=5))
    assert rows
    for row in rows:
        posted = JournalTransaction.objects.get(reference=f"dispute:{row['id']}:opened")
        taken = sum(e.amount for e in posted.entries.all() if e.direction == "debit" and e.merchant_id)
        assert minor(row["amount"], row["currency"]) + minor(row["fee"], row["currency"]) == taken
        assert row["evidence_due_by"] > row["created"]
    assert {r["status"] for r in rows} == {"needs_response"}
