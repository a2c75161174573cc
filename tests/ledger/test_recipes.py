"""Every money flow, end to end, with the balance of every account it touches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger import accounts, recipes
from ledger.balances import balance
from ledger.exceptions import InsufficientFundsError, InvalidAmountError, TransactionNotFoundError
from ledger.verification import verify_ledger
from tests.ledger.conftest import NOW, available, pending, usd

pytestmark = pytest.mark.django_db

M = "mch_1"
LATER = timedelta(days=2)
RECEIVABLE = accounts.psp_receivable("sandbox", "usd")
REVENUE = accounts.platform_fee_revenue("usd")
BANK = accounts.bank_cash("usd")
LOSSES = accounts.write_offs("usd")


def balances() -> dict[str, int]:
    specs = {
        "pending": pending(M),
        "available": available(M),
        "receivable": RECEIVABLE,
        "revenue": REVENUE,
        "bank": BANK,
        "losses": LOSSES,
        "psp_fees": accounts.psp_fee_expense("sandbox", "usd"),
        "suspense": accounts.suspense("usd"),
    }
    return {name: balance(spec).amount for name, spec in specs.items() if balance(spec).amount}


def capture(payment_id: str = "pay_1", gross: int = 10_000, fee: int = 320):
    return recipes.payment_captured(
        merchant_id=M,
        connector="sandbox",
        payment_id=payment_id,
        gross=usd(gross),
        fee=usd(fee),
        occurred_at=NOW,
        available_on=NOW + LATER,
    )


def refund(amount: int, *, refund_id: str = "re_1", pending_cap: int = 0):
    return recipes.refund_created(
        merchant_id=M,
        connector="sandbox",
        refund_id=refund_id,
        payment_id="pay_1",
        amount=usd(amount),
        occurred_at=NOW,
        pending_cap=pending_cap,
        pending_available_on=NOW + LATER,
    )


def chargeback(amount: int = 10_000, fee: int = 1_500, *, pending_cap: int = 0):
    return recipes.chargeback_opened(
        merchant_id=M,
        connector="sandbox",
        dispute_id="dp_1",
        payment_id="pay_1",
        amount=usd(amount),
        dispute_fee=usd(fee),
        occurred_at=NOW,
        pending_cap=pending_cap,
        pending_available_on=NOW + LATER,
    )


def release(payment_id: str = "pay_1", amount: int = 9_680):
    return recipes.funds_released(merchant_id=M, payment_id=payment_id, amount=usd(amount), occurred_at=NOW + LATER)


def test_payment_captured_puts_net_in_pending_and_fee_in_revenue():
    txn = capture()
    assert txn.reference == "payment:pay_1:capture"
    assert txn.metadata["connector"] == "sandbox"
    assert txn.available_on == NOW + LATER
    assert balances() == {"pending": 9_680, "receivable": 10_000, "revenue": 320}


def test_funds_released_moves_pending_to_available():
    capture()
    release()
    assert balances() == {"available": 9_680, "receivable": 10_000, "revenue": 320}


def test_refund_draws_on_available_then_the_payments_pending_funds_and_a_failure_gives_it_back_available():
    capture()
    release(amount=5_000)
    debit = refund(6_000, pending_cap=4_680)
    assert (debit.from_available, debit.from_pending, debit.owed) == (5_000, 1_000, 0)
    assert balances() == {"pending": 3_680, "receivable": 4_000, "revenue": 320}
    # It drew on pending funds, so it counts from when those would have been available.
    assert debit.transaction.available_on == NOW + LATER

    recipes.refund_failed(refund_id="re_1", occurred_at=NOW)
    assert balances() == {"pending": 3_680, "available": 6_000, "receivable": 10_000, "revenue": 320}


def test_a_refund_never_takes_more_pending_funds_than_its_cap_the_rest_is_owed():
    capture()
    capture(payment_id="pay_2")  # another payment's pending funds are not this refund's to take
    debit = refund(10_000, pending_cap=9_680)
    assert (debit.from_available, debit.from_pending, debit.owed) == (0, 9_680, 320)
    assert balances() == {"pending": 9_680, "available": -320, "receivable": 10_000, "revenue": 640}


def test_a_refund_replayed_returns_its_first_split():
    capture()
    first = refund(1_000, pending_cap=9_680)
    again = refund(1_000, pending_cap=0)
    assert (again.transaction.id, again.from_pending, again.created) == (first.transaction.id, 1_000, False)


def test_a_chargeback_is_the_merchants_to_pay_even_beyond_its_balance():
    capture()
    release()
    debit = chargeback()
    assert (debit.from_available, debit.from_pending, debit.owed) == (9_680, 0, 1_820)
    # The merchant owes the difference; nothing lands on a platform loss account.
    assert balances() == {"available": -1_820, "revenue": 1_820}

    recipes.dispute_won(dispute_id="dp_1", occurred_at=NOW)
    assert balances() == {"available": 9_680, "receivable": 10_000, "revenue": 320}


def test_a_chargeback_on_pending_funds_takes_them_and_the_release_has_nothing_left():
    capture()
    debit = chargeback(pending_cap=9_680)
    assert (debit.from_available, debit.from_pending, debit.owed) == (0, 9_680, 1_820)
    assert balances() == {"available": -1_820, "revenue": 1_820}
    recipes.dispute_won(dispute_id="dp_1", occurred_at=NOW)
    # What it took from pending comes back available: pending only ever holds what a release will move.
    assert balances() == {"available": 9_680, "receivable": 10_000, "revenue": 320}


def test_only_an_explicit_write_off_moves_what_a_merchant_owes_to_the_platform():
    capture()
    release()
    chargeback()
    with pytest.raises(InvalidAmountError) as error:
        recipes.merchant_write_off(
            write_off_id="wo_1", merchant_id=M, amount=usd(1_821), reason="fraud", actor="ann", occurred_at=NOW
        )
    assert error.value.code == "write_off_exceeds_owed"
    txn = recipes.merchant_write_off(
        write_off_id="wo_1", merchant_id=M, amount=usd(1_820), reason="merchant closed", actor="ann", occurred_at=NOW
    )
    assert (txn.source_type, txn.metadata["actor"], txn.metadata["reason"]) == ("write_off", "ann", "merchant closed")
    assert balances() == {"losses": 1_820, "revenue": 1_820}
    assert verify_ledger().ok


def test_payout_never_exceeds_available_and_payout_failed_returns_it():
    capture()
    with pytest.raises(InsufficientFundsError):  # pending funds are not paid out
        recipes.payout_created(merchant_id=M, payout_id="po_0", amount=usd(1), occurred_at=NOW)
    release()
    with pytest.raises(InsufficientFundsError):
        recipes.payout_created(merchant_id=M, payout_id="po_1", amount=usd(9_681), occurred_at=NOW)

    recipes.payout_created(merchant_id=M, payout_id="po_2", amount=usd(9_680), occurred_at=NOW)
    assert balances() == {"bank": -9_680, "receivable": 10_000, "revenue": 320}

    recipes.payout_failed(payout_id="po_2", occurred_at=NOW)
    assert balances() == {"available": 9_680, "receivable": 10_000, "revenue": 320}


def test_psp_settlement_turns_the_receivable_into_cash_less_the_provider_fee():
    capture()
    recipes.psp_settlement(connector="sandbox", settlement_id="st_1", gross=usd(10_000), fee=usd(250), occurred_at=NOW)
    assert balances() == {"pending": 9_680, "revenue": 320, "bank": 9_750, "psp_fees": 250}


def test_manual_adjustment_records_who_and_why():
    txn = recipes.manual_adjustment(
        adjustment_id="adj_1",
        debit_account=accounts.suspense("usd"),
        credit_account=available(M),
        amount=usd(700),
        reason="Unmatched deposit belongs to mch_1",
        actor="finance@ledgerline.test",
        occurred_at=NOW,
    )
    assert txn.metadata == {"actor": "finance@ledgerline.test", "reason": "Unmatched deposit belongs to mch_1"}
    assert balances() == {"available": 700, "suspense": -700}


def test_recipes_are_idempotent_and_the_whole_story_verifies():
    first = capture()
    assert capture().id == first.id
    release()
    recipes.payout_created(merchant_id=M, payout_id="po_1", amount=usd(1_000), occurred_at=NOW)
    recipes.psp_settlement(connector="sandbox", settlement_id="st_1", gross=usd(10_000), fee=usd(250), occurred_at=NOW)
    assert verify_ledger().ok


@pytest.mark.parametrize(("gross", "fee"), [(0, 0), (100, 101), (100, -1)])
def test_capture_amounts_are_checked(gross, fee):
    with pytest.raises(InvalidAmountError):
        capture(gross=gross, fee=fee)


def test_a_capture_whose_fee_is_everything_credits_no_merchant():
    capture(gross=100, fee=100)
    assert balances() == {"receivable": 100, "revenue": 100}


def test_undoing_what_was_never_posted_is_a_clear_error():
    with pytest.raises(TransactionNotFoundError) as error:
        recipes.payout_failed(payout_id="po_never", occurred_at=NOW)
    assert error.value.code == "ledger_transaction_missing"
