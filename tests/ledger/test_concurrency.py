"""Sixteen real PostgreSQL connections posting against the same few accounts, some overdrawing on purpose."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from django.db import connection

from ledger import accounts
from ledger.balances import balance
from ledger.exceptions import InsufficientFundsError
from ledger.posting import credit, debit, post
from ledger.verification import verify_ledger
from tests.ledger.conftest import available, fund, usd

THREADS = 16
POSTINGS_PER_THREAD = 25
MERCHANTS = ["m0", "m1", "m2", "m3"]
BANK = accounts.bank_cash("usd")
OPENING = 2_000


@pytest.mark.django_db(transaction=True)
def test_concurrent_postings_keep_exact_non_negative_gap_free_balances():
    for merchant in MERCHANTS:
        fund(merchant, OPENING)
    accounts.account_get_or_create(BANK)
    # What every thread actually moved, to compare with the ledger afterwards.
    moved: Counter[str] = Counter()
    refused: list[int] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def client(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - a seeded, reproducible workload, not a secret
        local_moved: Counter[str] = Counter()
        local_refused = 0
        try:
            start.wait()
            for n in range(POSTINGS_PER_THREAD):
                source, target = rng.sample(MERCHANTS, 2)
                amount = rng.randint(50, 900)  # big enough that overdrafts happen
                payout = rng.random() < 0.3
                destination = BANK if payout else available(target)
                legs = [debit(available(source), usd(amount), no_overdraft=True), credit(destination, usd(amount))]
                rng.shuffle(legs)  # lock order must not depend on the order of the entries
                try:
                    post(reference=f"c{seed}-{n}", entries=legs)
                except InsufficientFundsError:
                    local_refused += 1
                    continue
                local_moved[source] -= amount
                local_moved[BANK.code if payout else target] += amount
        except BaseException as error:  # any other failure (a deadlock, say) fails the test below
            with lock:
                unexpected.append(error)
        finally:
            connection.close()
        with lock:
            moved.update(local_moved)
            refused.append(local_refused)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not unexpected, unexpected
    assert sum(refused) > 0, "no posting overdrew: the test did not exercise the non-negative rule"
    for merchant in MERCHANTS:
        assert balance(available(merchant)) == usd(OPENING + moved[merchant])
    assert balance(BANK) == usd(-moved[BANK.code])
    report = verify_ledger()
    assert report.ok, report.violations  # gap-free sequences, running balances, never negative
    assert report.transactions == 2 * len(MERCHANTS) + THREADS * POSTINGS_PER_THREAD - sum(refused)
