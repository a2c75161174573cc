from __future__ import annotations

import pytest

from ledger import accounts
from ledger.balances import balance
from ledger.exceptions import InsufficientFundsError, LedgerConflictError
from ledger.models import JournalTransaction
from ledger.posting import Posting, credit, debit, post_many
from tests.ledger.conftest import available, fund, journal_size, pending, usd

pytestmark = pytest.mark.django_db

RECEIVABLE = accounts.psp_receivable("sandbox", "usd")
BANK = accounts.bank_cash("usd")


def captures(count: int, *, merchants: int = 3, start: int = 0):
    for n in range(start, start + count):
        merchant = f"m{n % merchants}"
        yield Posting(
            reference=f"payment:pay_{n}:capture",
            entries=[debit(RECEIVABLE, usd(100 + n)), credit(pending(merchant), usd(100 + n))],
        )


def test_post_many_writes_every_posting_in_chunks_with_exact_balances():
    result = post_many(captures(250), chunk_size=40)

    assert (result.posted, result.already_posted) == (250, 0)
    assert journal_size() == (250, 500)
    assert balance(RECEIVABLE) == usd(sum(100 + n for n in range(250)))
    assert balance(pending("m1")) == usd(sum(100 + n for n in range(250) if n % 3 == 1))


def test_post_many_streams_its_input_one_chunk_at_a_time():
    seen_when_pulled: list[int] = []

    def postings():
        for posting in captures(30):
            seen_when_pulled.append(JournalTransaction.objects.count())
            yield posting

    post_many(postings(), chunk_size=10)

    # The 11th posting is pulled only after the first ten are written.
    assert seen_when_pulled[10] == 10
    assert seen_when_pulled[20] == 20


def test_post_many_again_counts_what_was_already_posted():
    post_many(captures(50), chunk_size=20)
    before = journal_size()

    result = post_many(captures(60), chunk_size=20)

    assert (result.posted, result.already_posted) == (10, 50)
    assert journal_size() == (before[0] + 10, before[1] + 20)


def test_a_conflicting_reference_fails_its_chunk_and_names_it():
    post_many(captures(5))
    changed = Posting(
        reference="payment:pay_2:capture", entries=[debit(RECEIVABLE, usd(1)), credit(pending("m2"), usd(1))]
    )

    with pytest.raises(LedgerConflictError) as error:
        post_many([*captures(3, start=10), changed])

    assert error.value.reference == "payment:pay_2:capture"
    assert journal_size() == (5, 10)


def test_an_overdraft_fails_its_chunk_only():
    fund("m1", 100)
    before = journal_size()
    payouts = [
        Posting(
            reference=f"payout:po_{n}",
            entries=[debit(available("m1"), usd(30), no_overdraft=True), credit(BANK, usd(30))],
        )
        for n in range(4)
    ]

    with pytest.raises(InsufficientFundsError, match="payout:po_3"):
        post_many(payouts, chunk_size=2)

    # The first chunk (60) is committed; the second chunk, whose last payout overdraws, left no trace.
    assert journal_size() == (before[0] + 2, before[1] + 4)
    assert balance(available("m1")) == usd(40)
