"""post / reverse: what is written, what is refused (and then nothing is written), and idempotency."""

from __future__ import annotations

import pytest
from django.db import transaction

from ledger import accounts
from ledger.balances import balance
from ledger.exceptions import (
    CurrencyMismatchError,
    InsufficientFundsError,
    InvalidAmountError,
    InvalidPostingError,
    LedgerConflictError,
    TooFewEntriesError,
    UnbalancedPostingError,
)
from ledger.models import JournalEntry
from ledger.money import Money
from ledger.posting import credit, debit, lock_balances, post, reverse
from tests.ledger.conftest import available, fund, journal_size, pending, usd

pytestmark = pytest.mark.django_db

RECEIVABLE = accounts.psp_receivable("sandbox", "usd")
BANK = accounts.bank_cash("usd")


def test_post_writes_entries_with_running_sequence_and_balance():
    post(reference="t1", entries=[debit(RECEIVABLE, usd(1000)), credit(pending("m1"), usd(1000))])
    txn = post(reference="t2", entries=[debit(RECEIVABLE, usd(250)), credit(pending("m1"), usd(250))])

    entries = {e.account.code: e for e in txn.entries.select_related("account")}
    assert entries[RECEIVABLE.code].sequence == 2
    assert entries[RECEIVABLE.code].balance_after == 1250  # an asset grows with debits
    assert entries[pending("m1").code].balance_after == 1250  # a liability grows with credits
    assert entries[pending("m1").code].merchant_id == "m1"
    assert entries[RECEIVABLE.code].merchant_id is None
    assert txn.id.startswith("txn_")
    assert balance(pending("m1")) == usd(1250)


def test_same_reference_and_entries_returns_the_first_transaction_and_writes_nothing():
    legs = [debit(RECEIVABLE, usd(500)), credit(pending("m1"), usd(500))]
    first = post(reference="payment:pay_1:capture", entries=legs)
    before = journal_size()

    again = post(reference="payment:pay_1:capture", entries=list(reversed(legs)))

    assert again.id == first.id
    assert journal_size() == before


def test_same_reference_with_different_entries_is_a_conflict():
    post(reference="payment:pay_1:capture", entries=[debit(RECEIVABLE, usd(500)), credit(pending("m1"), usd(500))])
    before = journal_size()

    with pytest.raises(LedgerConflictError) as error:
        post(reference="payment:pay_1:capture", entries=[debit(RECEIVABLE, usd(501)), credit(pending("m1"), usd(501))])

    assert error.value.code == "ledger_reference_conflict"
    assert error.value.status_code == 409
    assert journal_size() == before


@pytest.mark.parametrize(
    ("entries", "error", "code"),
    [
        ([debit(RECEIVABLE, usd(100))], TooFewEntriesError, "ledger_too_few_entries"),
        ([debit(RECEIVABLE, usd(100)), credit(BANK, usd(99))], UnbalancedPostingError, "ledger_unbalanced"),
        ([debit(RECEIVABLE, usd(0)), credit(BANK, usd(0))], InvalidAmountError, "ledger_invalid_amount"),
        ([debit(RECEIVABLE, usd(-5)), credit(BANK, usd(-5))], InvalidAmountError, "ledger_invalid_amount"),
        (
            [debit(RECEIVABLE, Money(100, "eur")), credit(BANK, Money(100, "eur"))],
            CurrencyMismatchError,
            "currency_mismatch",
        ),
        (
            # Zero in total, but each currency must balance on its own.
            [
                debit(accounts.bank_cash("eur"), Money(100, "eur")),
                credit(BANK, usd(100)),
            ],
            UnbalancedPostingError,
            "ledger_unbalanced",
        ),
    ],
    ids=["one-entry", "unbalanced", "zero", "negative", "currency-not-the-accounts", "unbalanced-per-currency"],
)
def test_malformed_postings_are_refused_and_leave_no_trace(entries, error, code):
    with pytest.raises(error) as raised:
        post(reference="bad", entries=entries)

    assert raised.value.code == code
    assert journal_size() == (0, 0)


def test_a_transaction_may_span_currencies_when_each_balances():
    txn = post(
        reference="fx",
        entries=[
            debit(accounts.bank_cash("eur"), Money(90, "eur")),
            credit(accounts.equity("eur"), Money(90, "eur")),
            debit(BANK, usd(100)),
            credit(accounts.equity("usd"), usd(100)),
        ],
    )
    assert txn.entries.count() == 4


def test_an_overdraft_is_refused_and_leaves_no_trace():
    fund("m1", 1000)
    before = journal_size()

    with pytest.raises(InsufficientFundsError) as error:
        post(
            reference="payout:po_1",
            entries=[debit(available("m1"), usd(1001), no_overdraft=True), credit(BANK, usd(1001))],
        )

    assert error.value.code == "insufficient_funds"
    assert error.value.shortfall == 1
    assert journal_size() == before
    assert balance(available("m1")) == usd(1000)


def test_an_account_flagged_non_negative_refuses_to_go_below_zero_whatever_the_entry_says():
    post(reference="capture", entries=[debit(RECEIVABLE, usd(100)), credit(pending("m1"), usd(100))])
    with pytest.raises(InsufficientFundsError):
        post(reference="draw", entries=[debit(pending("m1"), usd(101)), credit(RECEIVABLE, usd(101))])
    assert balance(pending("m1")) == usd(100)


def test_a_non_negative_account_may_reach_exactly_zero():
    fund("m1", 1000)
    post(
        reference="payout:po_1",
        entries=[debit(available("m1"), usd(1000), no_overdraft=True), credit(BANK, usd(1000))],
    )
    assert balance(available("m1")) == usd(0)


def test_an_available_balance_may_go_below_zero_money_the_merchant_owes():
    fund("m1", 300)
    post(reference="dispute:dp_1:opened", entries=[debit(available("m1"), usd(1000)), credit(RECEIVABLE, usd(1000))])
    assert balance(available("m1")) == usd(-700)


def test_lock_balances_reads_what_a_posting_would_see():
    fund("m1", 300)
    with transaction.atomic():
        balances = lock_balances([available("m1"), pending("m1"), accounts.suspense("usd")])
    assert balances == {
        available("m1").code: usd(300),
        pending("m1").code: usd(0),
        accounts.suspense("usd").code: usd(0),
    }


def test_an_existing_code_with_other_attributes_is_refused():
    fund("m1", 100)
    impostor = accounts.AccountSpec(available("m1").code, accounts.AccountType.LIABILITY, "usd", "m1", True)

    with pytest.raises(InvalidPostingError) as error:
        post(reference="x", entries=[debit(impostor, usd(500)), credit(BANK, usd(500))])

    assert error.value.code == "ledger_account_mismatch"


def test_a_refusal_inside_a_callers_transaction_leaves_it_usable():
    fund("m1", 100)
    with transaction.atomic():
        with pytest.raises(InsufficientFundsError):
            post(
                reference="payout:po_1",
                entries=[debit(available("m1"), usd(500), no_overdraft=True), credit(BANK, usd(500))],
            )
        post(reference="payout:po_2", entries=[debit(available("m1"), usd(50)), credit(BANK, usd(50))])
    assert balance(available("m1")) == usd(50)


def test_reverse_posts_the_exact_opposite_once():
    fund("m1", 1000)
    payout = post(reference="payout:po_1", entries=[debit(available("m1"), usd(400)), credit(BANK, usd(400))])

    reversal = reverse(payout)
    again = reverse(payout.id)

    assert again.id == reversal.id
    assert reversal.reference == "payout:po_1:reversal"
    assert reversal.reverses_id == payout.id
    assert balance(available("m1")) == usd(1000)
    assert balance(BANK) == usd(0)
    assert JournalEntry.objects.filter(transaction=reversal).count() == 2


def test_a_transaction_is_reversed_at_most_once():
    fund("m1", 1000)
    payout = post(reference="payout:po_1", entries=[debit(available("m1"), usd(400)), credit(BANK, usd(400))])
    reverse(payout, reference="payout:po_1:failed")

    with pytest.raises(LedgerConflictError, match="already reversed by payout:po_1:failed"):
        reverse(payout)

    assert balance(available("m1")) == usd(1000)


def test_post_costs_a_fixed_number_of_queries(django_assert_max_num_queries):
    fund("m1", 1000)
    accounts.account_get_or_create(BANK)
    # savepoint, lock, heads, insert transaction, insert entries, release
    with django_assert_max_num_queries(6):
        post(reference="payout:po_1", entries=[debit(available("m1"), usd(1)), credit(BANK, usd(1))])
