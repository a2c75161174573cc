"""Ledger benchmark: our posting functions side by side with raw-SQL baselines, in one run, on one PostgreSQL.

    .venv/bin/python bench/ledger.py            # the figures recorded in docs/performance.md
    .venv/bin/python bench/ledger.py --quick    # a smaller smoke run

Creates (and drops first) the database ``ledgerline_bench`` on ``BENCH_PG`` (default
``postgres://postgres@127.0.0.1:5432``), migrates it, and prints throughput and p50/p99 latency for:

1. single postings, one client: ``ledger.posting.post`` vs raw psycopg sending the same statements with the same
   locks (``SELECT … FOR UPDATE`` in id order, head read, transaction insert, entries insert, commit);
2. single postings, 8 client processes on 10 hot accounts: ``post`` vs a pgledger-shaped pure-SQL ledger (one
   PL/pgSQL call: lock both accounts in id order, update their balance and version, insert a transfer and two
   entries with running balances);
3. ``post_many`` of 100,000 transactions vs raw psycopg writing the same rows in the same batches with the same
   locks, plus the peak Python memory of ``post_many`` at 10,000 and 100,000 postings (flat means streaming).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = "ledgerline_bench"
DSN = f"{SERVER}/{DATABASE}"

MERCHANTS = 100
HOT_ACCOUNTS = 10
CLIENTS = 8


# --- setup ------------------------------------------------------------------------------------------------------


def create_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


def django_setup() -> None:
    os.environ.update(LEDGERLINE_ENV="test", DATABASE_URL=DSN, LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


PGLEDGER_SCHEMA = """
CREATE TABLE pgl_accounts (
    id bigserial PRIMARY KEY, name text NOT NULL, currency text NOT NULL,
    balance bigint NOT NULL DEFAULT 0, version bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE pgl_transfers (
    id bigserial PRIMARY KEY, from_account_id bigint NOT NULL REFERENCES pgl_accounts(id),
    to_account_id bigint NOT NULL REFERENCES pgl_accounts(id), amount bigint NOT NULL CHECK (amount > 0),
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE pgl_entries (
    id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES pgl_accounts(id),
    transfer_id bigint NOT NULL REFERENCES pgl_transfers(id), amount bigint NOT NULL,
    account_previous_balance bigint NOT NULL, account_current_balance bigint NOT NULL,
    account_version bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE UNIQUE INDEX pgl_entries_account_version ON pgl_entries (account_id, account_version);
CREATE INDEX pgl_entries_transfer ON pgl_entries (transfer_id);
CREATE FUNCTION pgl_create_transfer(from_id bigint, to_id bigint, amt bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    transfer_id bigint;
    from_balance bigint; from_version bigint; to_balance bigint; to_version bigint;
BEGIN
    PERFORM 1 FROM pgl_accounts WHERE id IN (from_id, to_id) ORDER BY id FOR UPDATE;
    UPDATE pgl_accounts SET balance = balance - amt, version = version + 1, updated_at = now()
        WHERE id = from_id RETURNING balance, version INTO from_balance, from_version;
    UPDATE pgl_accounts SET balance = balance + amt, version = version + 1, updated_at = now()
        WHERE id = to_id RETURNING balance, version INTO to_balance, to_version;
    INSERT INTO pgl_transfers (from_account_id, to_account_id, amount) VALUES (from_id, to_id, amt)
        RETURNING id INTO transfer_id;
    INSERT INTO pgl_entries (account_id, transfer_id, amount, account_previous_balance, account_current_balance,
                             account_version)
    VALUES (from_id, transfer_id, -amt, from_balance + amt, from_balance, from_version),
           (to_id, transfer_id, amt, to_balance - amt, to_balance, to_version);
    RETURN transfer_id;
END $$;
"""


# --- measuring --------------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def line(self) -> str:
        if not self.latencies:
            return f"  {self.name:<44} {self.rate:>9.0f} tx/s   ({self.count} in {self.seconds:.1f} s)"
        p50 = statistics.median(self.latencies) * 1000
        p99 = statistics.quantiles(self.latencies, n=100)[98] * 1000 if len(self.latencies) >= 100 else float("nan")
        return f"  {self.name:<44} {self.rate:>9.0f} tx/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"


def timed(name: str, count: int, one: Callable[[int], None]) -> Result:
    latencies = []
    started = time.perf_counter()
    for n in range(count):
        t0 = time.perf_counter()
        one(n)
        latencies.append(time.perf_counter() - t0)
    return Result(name, count, time.perf_counter() - started, latencies)


# --- 1. single postings, one client -------------------------------------------------------------------------------


def capture_legs(n: int, prefix: str) -> list:
    from ledger import accounts
    from ledger.money import Money
    from ledger.posting import credit, debit

    amount = Money(100 + n % 900, "usd")
    return [
        debit(accounts.psp_receivable(f"{prefix}psp", "usd"), amount),
        credit(accounts.merchant_pending(f"{prefix}m{n % MERCHANTS}", "usd"), amount),
    ]


def ours_single(run: str, count: int) -> Result:
    from ledger.posting import post

    return timed("ledger.post", count, lambda n: post(reference=f"{run}:{n}", entries=capture_legs(n, "s")))


class RawLedger:
    """What ledger.posting sends to PostgreSQL, sent with psycopg and nothing else: no validation, no objects.

    The same ``ledger_post`` call (lock the accounts in id order, read their heads, insert the transactions and
    the entries with running balances), autocommitted like ``post`` outside a caller's transaction.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def write(self, postings: list[tuple[str, str, list[tuple[str, str, int]]]], create: bool = False) -> None:
        """postings: (transaction id, reference, [(account code, direction, amount)])"""
        from core.ids import new_id
        from ledger.posting import _POST_SQL as POST_SQL

        codes = sorted({leg[0] for _, _, legs in postings for leg in legs})
        index = {code: n for n, code in enumerate(codes, start=1)}
        now = datetime.now(UTC).isoformat()
        accounts = []
        for code in codes:
            merchant = code.split(":")[1] if code.startswith("merchant:") else None
            kind = "liability" if merchant else "asset"
            pending = code.endswith(":pending")  # a merchant's pending balance is flagged non-negative
            accounts.append([code, code, kind, "usd", merchant, pending, new_id("acc") if create else None])
        payload = {
            "a": accounts,
            # The MAC is the application's work (the product computes it in Python); the baseline sends a constant.
            "t": [[txn_id, ref, "", now, "", "", "{}", ref, None, now, "0" * 64] for txn_id, ref, _ in postings],
            "l": [
                [n, index[code], direction, amount, False]
                for n, (_, _, legs) in enumerate(postings, start=1)
                for code, direction, amount in legs
            ],
        }
        try:
            self.conn.execute(POST_SQL, [json.dumps(payload, separators=(",", ":"))])
        except psycopg.DatabaseError as error:
            if error.sqlstate != "LN004" or create:
                raise
            self.write(postings, create=True)


def raw_legs(n: int, prefix: str) -> list[tuple[str, str, int]]:
    amount = 100 + n % 900
    return [
        (f"platform:psp:{prefix}psp:usd:receivable", "debit", amount),
        (f"merchant:{prefix}m{n % MERCHANTS}:usd:pending", "credit", amount),
    ]


def raw_single(run: str, count: int) -> Result:
    from core.ids import new_id

    with psycopg.connect(DSN, autocommit=True) as conn:
        raw = RawLedger(conn)
        return timed(
            "raw psycopg, same SQL and locks",
            count,
            lambda n: raw.write([(new_id("txn"), f"{run}:{n}", raw_legs(n, "s"))]),
        )


# --- 2. eight clients on ten hot accounts -----------------------------------------------------------------------


def _client_ours(args: tuple[int, float]) -> list[float]:
    seed, seconds = args
    from django.db import connection

    from ledger import accounts
    from ledger.money import Money
    from ledger.posting import credit, debit, post

    rng = random.Random(seed)
    hot = [accounts.AccountSpec(f"bench:hot:{i}", accounts.AccountType.ASSET, "usd") for i in range(HOT_ACCOUNTS)]
    latencies = []
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        source, target = rng.sample(hot, 2)
        amount = Money(rng.randint(1, 1000), "usd")
        t0 = time.perf_counter()
        post(reference=f"hot:{seed}:{n}", entries=[debit(target, amount), credit(source, amount)])
        latencies.append(time.perf_counter() - t0)
        n += 1
    connection.close()
    return latencies


def _client_pgledger(args: tuple[int, float]) -> list[float]:
    seed, seconds = args
    rng = random.Random(seed)
    latencies = []
    with psycopg.connect(DSN, autocommit=True) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM pgl_accounts ORDER BY id")]
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            source, target = rng.sample(ids, 2)
            t0 = time.perf_counter()
            conn.execute("SELECT pgl_create_transfer(%s, %s, %s)", [source, target, rng.randint(1, 1000)])
            latencies.append(time.perf_counter() - t0)
    return latencies


def concurrent(name: str, client: Callable[[tuple[int, float]], list[float]], seconds: float, salt: int) -> Result:
    from django.db import connections

    connections.close_all()  # children must not share the parent's socket
    with multiprocessing.get_context("fork").Pool(CLIENTS) as pool:
        per_client = pool.map(client, [(salt * 100 + i, seconds) for i in range(CLIENTS)])
    latencies = [latency for client_latencies in per_client for latency in client_latencies]
    # Each client posts for `seconds` from its own start: throughput over that window, start-up excluded.
    return Result(name, len(latencies), seconds, latencies)


def setup_hot_accounts() -> None:
    from ledger import accounts

    for i in range(HOT_ACCOUNTS):
        accounts.account_get_or_create(
            accounts.AccountSpec(f"bench:hot:{i}", accounts.AccountType.ASSET, "usd", name=f"hot {i}")
        )
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(PGLEDGER_SCHEMA)
        for i in range(HOT_ACCOUNTS):
            conn.execute("INSERT INTO pgl_accounts (name, currency) VALUES (%s, 'usd')", [f"hot {i}"])


# --- 3. post_many --------------------------------------------------------------------------------------------------


def ours_many(run: str, count: int, chunk: int) -> Result:
    from ledger.posting import Posting, post_many

    def postings() -> Iterator[Posting]:
        for n in range(count):
            yield Posting(reference=f"{run}:{n}", entries=capture_legs(n, run[0]))

    started = time.perf_counter()
    result = post_many(postings(), chunk_size=chunk)
    if result.posted != count:
        raise SystemExit(f"post_many wrote {result.posted} of {count}")
    return Result(f"ledger.post_many (chunks of {chunk})", count, time.perf_counter() - started, [])


def raw_many(run: str, count: int, chunk: int) -> Result:
    from core.ids import new_id

    started = time.perf_counter()
    with psycopg.connect(DSN, autocommit=True) as conn:
        raw = RawLedger(conn)
        for first in range(0, count, chunk):
            raw.write(
                [(new_id("txn"), f"{run}:{n}", raw_legs(n, run[0])) for n in range(first, min(first + chunk, count))]
            )
    return Result(f"raw psycopg, same batches (chunks of {chunk})", count, time.perf_counter() - started, [])


def peak_memory(run: str, count: int, chunk: int) -> int:
    tracemalloc.start()
    ours_many(run, count, chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


# --- main ------------------------------------------------------------------------------------------------------


def interleaved(rounds: int, ours: Callable[[int], Result], base: Callable[[int], Result]) -> tuple[Result, Result]:
    """Alternates ours and the baseline, round by round, so the machine's noise falls on both alike."""
    totals = (Result("", 0, 0.0, []), Result("", 0, 0.0, []))
    ratios = []
    for n in range(rounds):
        pair = (ours(n), base(n))
        ratios.append(pair[0].rate / pair[1].rate)
        for total, result in zip(totals, pair, strict=True):
            total.name = result.name
            total.count += result.count
            total.seconds += result.seconds
            total.latencies += result.latencies
    for total in totals:
        print(total.line())
    print(f"  per-round ratios: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, max {max(ratios):.2f}")
    return totals


def analyze() -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    args = parser.parse_args()
    rounds, block, seconds, many = (3, 200, 2.0, 10_000) if args.quick else (10, 500, 4.0, 100_000)
    chunk = 1000

    create_database()
    django_setup()
    from django.core.management import call_command

    from ledger.posting import post

    call_command("migrate", verbosity=0)
    print(f"ledger benchmark: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, database {DATABASE}")
    for n in range(MERCHANTS * 5):  # accounts and some history exist before anything is timed
        post(reference=f"warm:{n}", entries=capture_legs(n, "s"))
    analyze()

    print(f"\n1. single postings, one client: {rounds} alternating rounds of {block}")
    ours, raw = interleaved(rounds, lambda n: ours_single(f"o{n}", block), lambda n: raw_single(f"r{n}", block))
    print(f"  ratio ours/raw: {ours.rate / raw.rate:.2f}   (target >= 0.50)")

    print(
        f"\n2. {CLIENTS} client processes, {HOT_ACCOUNTS} hot accounts: {rounds // 2} alternating rounds of {seconds} s"
    )
    setup_hot_accounts()
    concurrent("warm-up", _client_ours, 1.0, 0)
    concurrent("warm-up", _client_pgledger, 1.0, 0)
    analyze()
    hot_ours, hot_base = interleaved(
        rounds // 2,
        lambda n: concurrent("ledger.post", _client_ours, seconds, 10 + n),
        lambda n: concurrent("pgledger-shaped PL/pgSQL transfer", _client_pgledger, seconds, 50 + n),
    )
    print(f"  ratio ours/pgledger: {hot_ours.rate / hot_base.rate:.2f}   (target >= 0.75)")

    per_round = many // 4
    print(f"\n3. {many:,} transactions in batches of {chunk}: 4 alternating rounds of {per_round:,}")
    batch_ours, batch_raw = interleaved(
        4, lambda n: ours_many(f"b{n}", per_round, chunk), lambda n: raw_many(f"c{n}", per_round, chunk)
    )
    print(f"  time ours/raw: {batch_ours.seconds / batch_raw.seconds:.2f}   (target <= 2.0)")
    print(f"  post_many rate / single post rate: {batch_ours.rate / ours.rate:.1f}x   (target >= 3x)")
    small, large = many // 10, many // 2
    print(
        f"  post_many peak Python memory: {peak_memory('m1', small, chunk) / 1e6:.1f} MB for {small:,} postings, "
        f"{peak_memory('n2', large, chunk) / 1e6:.1f} MB for {large:,}"
    )


if __name__ == "__main__":
    main()
