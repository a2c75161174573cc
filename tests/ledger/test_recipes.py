"""Every money flow, end to end, with the balance of every account it touches."""

from __future__ import annotations

import pytest

from ledger import accounts, recipes
from ledger.balances import balance
from ledger.exceptions import InsufficientFundsError, InvalidAmountError, TransactionNotFoundError
from ledger.verification import verify_ledger
from tests.ledger.conftest import NOW, available, pending, usd

pytestmark = pytest.mark.django_db

M = "mch_1"
RECEIVABLE = accounts.psp_receivable("sandbox", "usd")
REVENUE = accounts.platform_fee_revenue("usd")
BANK = accounts.bank_cash("usd")
LOSSES = accounts.chargeback_losses("usd")


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
        merchant_id=M, connector="sandbox", payment_id=payment_id, gross=usd(gross), fee=usd(fee), occurred_at=NOW
    )


def release(payment_id: str = "pay_1", amount: int = 9_680):
    return recipes.funds_released(merchant_id=M, payment_id=payment_id, amount=usd(amount), occurred_at=NOW)


def test_payment_captured_puts_net_in_pending_and_fee_in_revenue():
    txn = capture()
    assert txn.reference == "payment:pay_1:capture"
    assert txn.metadata["connector"] == "sandbox"
    assert balances() == {"pending": 9_680, "receivable": 10_000, "revenue": 320}


def test_funds_released_moves_pending_to_available():
    capture()
    release()
    assert balances() == {"available": 9_680, "receivable": 10_000, "revenue": 320}


def test_refund_draws_on_available_then_pending_and_refund_failed_undoes_it():
    capture()
    release(amount=5_000)
    recipes.refund_created(
        merchant_id=M, connector="sandbox", refund_id="re_1", payment_id="pay_1", amount=usd(6_000), occurred_at=NOW
    )
    assert balances() == {"pending": 3_680, "receivable": 4_000, "revenue": 320}

    recipes.refund_failed(refund_id="re_1", occurred_at=NOW)
    assert balances() == {"pending": 4_680, "available": 5_000, "receivable": 10_000, "revenue": 320}


def test_chargeback_beyond_the_available_balance_is_a_platform_loss_and_winning_reverses_it():
    capture()
    release()
    recipes.chargeback_opened(
        merchant_id=M,
        connector="sandbox",
        dispute_id="dp_1",
        payment_id="pay_1",
        amount=usd(10_000),
        dispute_fee=usd(1_500),
        occurred_at=NOW,
    )
    assert balances() == {"losses": 1_820, "revenue": 1_820}

    recipes.dispute_won(dispute_id="dp_1", occurred_at=NOW)
    assert balances() == {"available": 9_680, "receivable": 10_000, "revenue": 320}


def test_payout_never_exceeds_available_and_payout_failed_returns_it():
    capture()
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
