"""The only way money enters the journal: ``post``, ``post_many`` and ``reverse``.

How a posting is written (one database transaction per posting, or per chunk of ``post_many``):

1. Validate in Python, before touching the database: at least two entries, positive integer amounts, every
   currency balanced (debits == credits), every entry's currency equal to its account's.
2. Lock the accounts with ``SELECT … FOR UPDATE`` in id order (creating any that do not exist yet), so two
   postings on the same accounts queue instead of deadlocking.
3. Read each account's newest entry (one index lookup each: ``unique(account, sequence)``) in a new statement,
   which in READ COMMITTED sees everything committed before the lock was granted.
4. Compute every entry's sequence and running balance; refuse, before writing anything, an entry that would take a
   non-negative account below zero.
5. Insert the transaction(s) with ``ON CONFLICT (reference) DO NOTHING`` and the entries in one statement each.
   A reference that already exists rolls the attempt back; the stored fingerprint then says whether it is a replay
   (return the stored transaction) or a different fact under the same reference (``LedgerConflictError``).

No balance is ever updated: entries are the only copy of a balance, so nothing can disagree with them. A
deferred constraint trigger re-checks, at commit, that each transaction balances (see the migrations).
PostgreSQL pipelines steps 2-3 and 5 with the commit, so a posting costs two round trips (see
``docs/performance.md``). Requires READ COMMITTED (Django's default).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import structlog
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.ids import new_id
from ledger.accounts import AccountSpec, spec_of
from ledger.enums import AccountType, Direction
from ledger.exceptions import (
    CurrencyMismatchError,
    InsufficientFundsError,
    InvalidAmountError,
    InvalidPostingError,
    LedgerConflictError,
    TooFewEntriesError,
    UnbalancedPostingError,
)
from ledger.models import Account, JournalTransaction
from ledger.money import Money

logger = structlog.get_logger(__name__)

MAX_ATTEMPTS = 5
DEFAULT_CHUNK_SIZE = 500
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


@dataclass(frozen=True, slots=True)
class Leg:
    """One requested entry. ``overflow``: where the part of a debit a non-negative account cannot cover goes."""

    account: AccountSpec
    direction: Direction
    money: Money
    overflow: AccountSpec | None = None


def debit(account: AccountSpec | Account, money: Money, *, overflow: AccountSpec | Account | None = None) -> Leg:
    return Leg(spec_of(account), Direction.DEBIT, money, spec_of(overflow) if overflow is not None else None)


def credit(account: AccountSpec | Account, money: Money, *, overflow: AccountSpec | Account | None = None) -> Leg:
    return Leg(spec_of(account), Direction.CREDIT, money, spec_of(overflow) if overflow is not None else None)


@dataclass(frozen=True, slots=True)
class Posting:
    """One journal transaction to be written: what ``post`` takes as arguments and ``post_many`` as items."""

    reference: str
    entries: Sequence[Leg]
    description: str = ""
    occurred_at: datetime | None = None
    source_type: str = ""
    source_id: str = ""
    metadata: Mapping[str, Any] | None = None
    reverses_id: str | None = None


@dataclass(slots=True)
class BatchResult:
    posted: int = 0
    already_posted: int = 0


@dataclass(slots=True)
class _Prepared:
    posting: Posting
    id: str
    fingerprint: str
    occurred_at: datetime
    metadata_json: str


class _ReferencesTaken(Exception):
    def __init__(self, references: set[str]) -> None:
        super().__init__(", ".join(sorted(references)))
        self.references = references


# --- public functions ---------------------------------------------------------------------------------------


def post(
    *,
    reference: str,
    entries: Sequence[Leg],
    description: str = "",
    occurred_at: datetime | None = None,
    source_type: str = "",
    source_id: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> JournalTransaction:
    """Write one balanced journal transaction, or return the one already posted under ``reference``.

    Raises ``InvalidPostingError`` subclasses for malformed postings, ``InsufficientFundsError`` when a
    non-negative account would go below zero and ``LedgerConflictError`` when ``reference`` was posted with
    different entries; in every case nothing is written.
    """
    posting = Posting(reference, entries, description, occurred_at, source_type, source_id, metadata)
    return _post_one(posting)


def post_many(postings: Iterable[Posting], *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> BatchResult:
    """Write many postings, ``chunk_size`` per database transaction, consuming ``postings`` lazily.

    Each chunk is one lock pass, one read of the account heads and one multi-row insert per table. A chunk is
    atomic; earlier chunks stay committed when a later one fails (the error names the reference), and re-running
    the same postings is safe: references already posted with the same entries are counted, not written again.
    Inside a caller's ``transaction.atomic()`` everything is one transaction, as usual.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    result = BatchResult()
    iterator = iter(postings)
    while chunk := list(islice(iterator, chunk_size)):
        posted, existing = _post_chunk_with_retries([_prepare(p) for p in chunk])
        result.posted += len(posted)
        result.already_posted += len(existing)
    return result


def reverse(
    original: JournalTransaction | str,
    *,
    reference: str | None = None,
    description: str = "",
    occurred_at: datetime | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> JournalTransaction:
    """Post the exact opposite of ``original``'s entries as a new transaction that references it.

    Idempotent like ``post``: the default reference is ``{original.reference}:reversal``. A transaction is
    reversed at most once (``reverses`` is unique).
    """
    if isinstance(original, str):
        original = JournalTransaction.objects.get(pk=original)
    legs = [
        Leg(
            spec_of(entry.account),
            Direction.CREDIT if entry.direction == Direction.DEBIT else Direction.DEBIT,
            Money(entry.amount, entry.currency),
        )
        for entry in original.entries.select_related("account").order_by("id")
    ]
    posting = Posting(
        reference=reference or f"{original.reference}:reversal",
        entries=legs,
        description=description or f"Reversal of {original.reference}",
        occurred_at=occurred_at,
        source_type=original.source_type,
        source_id=original.source_id,
        metadata=metadata,
        reverses_id=original.id,
    )
    return _post_one(posting)


# --- validation ---------------------------------------------------------------------------------------------


def _prepare(posting: Posting) -> _Prepared:
    if not posting.reference or len(posting.reference) > 255:
        raise InvalidPostingError("a posting needs a reference of 1 to 255 characters", param="reference")
    legs = posting.entries
    if len(legs) < 2:
        raise TooFewEntriesError(f"{posting.reference}: a transaction needs at least two entries")
    totals: dict[str, int] = {}
    for leg in legs:
        money = leg.money
        if money.amount <= 0:
            raise InvalidAmountError(f"{posting.reference}: entry amounts must be positive, not {money}")
        if money.currency != leg.account.currency or (
            leg.overflow is not None and leg.overflow.currency != money.currency
        ):
            raise CurrencyMismatchError(
                f"{posting.reference}: {money} posted to {leg.account.code}, a {leg.account.currency} account"
            )
        signed = money.amount if leg.direction == Direction.DEBIT else -money.amount
        totals[money.currency] = totals.get(money.currency, 0) + signed
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        raise UnbalancedPostingError(f"{posting.reference}: debits minus credits is {unbalanced}, not zero")
    metadata = json.dumps(dict(posting.metadata or {}), cls=DjangoJSONEncoder, sort_keys=True)
    return _Prepared(
        posting=posting,
        id=new_id("txn"),
        fingerprint=fingerprint(legs),
        occurred_at=posting.occurred_at or timezone.now(),
        metadata_json=metadata,
    )


def fingerprint(legs: Iterable[Leg]) -> str:
    """What makes two postings under one reference the same fact: their entries, in any order."""
    parts = sorted(
        f"{leg.account.code}|{leg.direction}|{leg.money.amount}|{leg.money.currency}|"
        f"{leg.overflow.code if leg.overflow else ''}"
        for leg in legs
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


# --- the write path -----------------------------------------------------------------------------------------


def _post_one(posting: Posting) -> JournalTransaction:
    prepared = _prepare(posting)
    posted, _ = _post_chunk_with_retries([prepared])
    if posted:
        return _as_model(prepared, posted[0])
    return JournalTransaction.objects.get(reference=posting.reference)


def _post_chunk_with_retries(chunk: list[_Prepared]) -> tuple[list[datetime], list[str]]:
    """Returns the posted_at of each newly written posting (in order) and the references that already existed."""
    existing: list[str] = []
    outermost = not connection.in_atomic_block
    attempt = 0
    while True:
        attempt += 1
        try:
            return _write_chunk(chunk), existing
        except _ReferencesTaken as taken:
            existing.extend(_check_replays(chunk, taken.references))
            chunk = [p for p in chunk if p.posting.reference not in taken.references]
            if not chunk:
                return [], existing
        except DatabaseError as error:
            sqlstate = getattr(error.__cause__, "sqlstate", None)
            if not outermost or sqlstate not in _RETRYABLE_SQLSTATES or attempt >= MAX_ATTEMPTS:
                raise
            logger.warning("ledger_post_retry", attempt=attempt, sqlstate=sqlstate)
            time.sleep(0.005 * attempt)
        if attempt >= MAX_ATTEMPTS * 2:  # only reachable if references keep appearing under us
            raise InvalidPostingError("could not post after repeated reference races")


def _check_replays(chunk: list[_Prepared], references: set[str]) -> list[str]:
    stored = dict(JournalTransaction.objects.filter(reference__in=references).values_list("reference", "fingerprint"))
    for prepared in chunk:
        reference = prepared.posting.reference
        if reference in references and stored.get(reference) != prepared.fingerprint:
            raise LedgerConflictError(f"{reference} was already posted with different entries", reference=reference)
    return [p.posting.reference for p in chunk if p.posting.reference in references]


@dataclass(slots=True)
class _Head:
    id: str
    spec: AccountSpec
    sequence: int
    balance: int


def _write_chunk(chunk: list[_Prepared]) -> list[datetime]:
    specs: dict[str, AccountSpec] = {}
    for prepared in chunk:
        for leg in prepared.posting.entries:
            specs.setdefault(leg.account.code, leg.account)
            if leg.overflow is not None:
                specs.setdefault(leg.overflow.code, leg.overflow)
    sql = _dialect()
    with transaction.atomic(), connection.cursor() as cursor:
        heads = sql.lock_and_read_heads(cursor, specs)
        entry_rows: list[tuple[Any, ...]] = []
        for prepared in chunk:
            entry_rows.extend(_entry_rows(prepared, heads))
        posted_at = sql.insert(cursor, chunk, entry_rows)
        if len(posted_at) != len(chunk):
            taken = {p.posting.reference for p in chunk} - set(posted_at)
            raise _ReferencesTaken(taken)
    return [posted_at[p.posting.reference] for p in chunk]


def _entry_rows(prepared: _Prepared, heads: dict[str, _Head]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    posting = prepared.posting

    def add(head: _Head, direction: str, amount: int) -> None:
        grows = (direction == Direction.DEBIT) == head.spec.debit_normal
        balance = head.balance + (amount if grows else -amount)
        if head.spec.non_negative and balance < 0:
            raise InsufficientFundsError(
                f"{posting.reference}: {head.spec.code} has {head.balance} {head.spec.currency}, {amount} requested",
                account_id=head.id,
                balance=head.balance,
                shortfall=-balance,
            )
        head.sequence += 1
        head.balance = balance
        rows.append(
            (prepared.id, head.id, head.spec.merchant_id, direction, amount, head.spec.currency, head.sequence, balance)
        )

    for leg in posting.entries:
        head = heads[leg.account.code]
        amount = leg.money.amount
        if leg.overflow is not None and head.spec.non_negative:
            grows = (leg.direction == Direction.DEBIT) == head.spec.debit_normal
            covered = amount if grows else min(amount, max(head.balance, 0))
            if covered:
                add(head, leg.direction, covered)
            if amount - covered:
                add(heads[leg.overflow.code], leg.direction, amount - covered)
        else:
            add(head, leg.direction, amount)
    return rows


def _as_model(prepared: _Prepared, posted_at: datetime) -> JournalTransaction:
    posting = prepared.posting
    txn = JournalTransaction(
        id=prepared.id,
        reference=posting.reference,
        description=posting.description,
        occurred_at=prepared.occurred_at,
        posted_at=posted_at,
        source_type=posting.source_type,
        source_id=posting.source_id,
        metadata=json.loads(prepared.metadata_json),
        fingerprint=prepared.fingerprint,
        reverses_id=posting.reverses_id,
    )
    txn._state.adding = False
    txn._state.db = connection.alias
    return txn


# --- SQL, per database ----------------------------------------------------------------------------------------

_TXN_COLUMNS = (
    "id, reference, description, occurred_at, posted_at, source_type, source_id, metadata, fingerprint, reverses_id"
)
_ENTRY_COLUMNS = (
    "transaction_id, account_id, merchant_id, direction, amount, currency, sequence, balance_after, posted_at"
)


class _Dialect:
    """The statements of the write path. SQLite (the embedded shape) takes its write lock at BEGIN IMMEDIATE, so it
    needs no row locks; it reads the clock in Python."""

    lock_suffix = ""

    def now(self) -> tuple[str, list[Any]]:
        """SQL for "now" and its parameters."""
        return "%s", [connection.ops.adapt_datetimefield_value(timezone.now())]

    def select_accounts(self, cursor: Any, codes: list[str]) -> list[tuple[Any, ...]]:
        placeholders = ", ".join(["%s"] * len(codes))
        cursor.execute(
            "SELECT id, code, type, currency, merchant_id, non_negative FROM ledger_account"
            f" WHERE code IN ({placeholders}) ORDER BY id{self.lock_suffix}",
            codes,
        )
        return list(cursor.fetchall())

    def select_heads(self, cursor: Any, account_ids: list[str]) -> list[tuple[Any, ...]]:
        branch = (
            "SELECT * FROM (SELECT account_id, sequence, balance_after FROM ledger_journalentry"
            " WHERE account_id = %s ORDER BY sequence DESC LIMIT 1)"
        )
        cursor.execute(" UNION ALL ".join([branch] * len(account_ids)), account_ids)
        return list(cursor.fetchall())

    def create_accounts(self, cursor: Any, specs: list[AccountSpec]) -> None:
        now_sql, now_params = self.now()
        values = ", ".join([f"(%s, %s, %s, %s, %s, %s, %s, {now_sql})"] * len(specs))
        params: list[Any] = []
        for spec in specs:
            params += [new_id("acc"), spec.code, spec.name or spec.code, spec.type, spec.currency]
            params += [spec.merchant_id, spec.non_negative, *now_params]
        cursor.execute(
            "INSERT INTO ledger_account (id, code, name, type, currency, merchant_id, non_negative, created)"
            f" VALUES {values} ON CONFLICT (code) DO NOTHING",
            params,
        )

    def lock_and_read_heads(self, cursor: Any, specs: dict[str, AccountSpec]) -> dict[str, _Head]:
        codes = sorted(specs)
        rows = self.select_accounts(cursor, codes)
        if len(rows) < len(codes):
            found = {row[1] for row in rows}
            self.create_accounts(cursor, [specs[code] for code in codes if code not in found])
            rows = self.select_accounts(cursor, codes)
        heads: dict[str, _Head] = {}
        by_id: dict[str, _Head] = {}
        for account_id, code, type_, currency, merchant_id, non_negative in rows:
            spec = AccountSpec(code, AccountType(type_), currency, merchant_id, bool(non_negative))
            _check_spec(specs[code], spec)
            heads[code] = by_id[account_id] = _Head(account_id, spec, 0, 0)
        for account_id, sequence, balance in self.select_heads(cursor, list(by_id)):
            by_id[account_id].sequence = sequence
            by_id[account_id].balance = balance
        return heads

    def insert(self, cursor: Any, chunk: list[_Prepared], entry_rows: list[tuple[Any, ...]]) -> dict[str, datetime]:
        """Inserts the transactions, then (only if none of their references existed) their entries."""
        adapt = connection.ops.adapt_datetimefield_value
        now_sql, now_params = self.now()
        txn_values = ", ".join([f"(%s, %s, %s, %s, {now_sql}, %s, %s, %s, %s, %s)"] * len(chunk))
        params: list[Any] = []
        for prepared in chunk:
            p = prepared.posting
            params += [prepared.id, p.reference, p.description, adapt(prepared.occurred_at), *now_params]
            params += [p.source_type, p.source_id, prepared.metadata_json, prepared.fingerprint, p.reverses_id]
        cursor.execute(
            f"INSERT INTO ledger_journaltransaction ({_TXN_COLUMNS}) VALUES {txn_values}"
            " ON CONFLICT (reference) DO NOTHING RETURNING reference, posted_at",
            params,
        )
        posted_at = {reference: self.read_datetime(when) for reference, when in cursor.fetchall()}
        if len(posted_at) == len(chunk):
            entry_values = ", ".join([f"(%s, %s, %s, %s, %s, %s, %s, %s, {now_sql})"] * len(entry_rows))
            cursor.execute(
                f"INSERT INTO ledger_journalentry ({_ENTRY_COLUMNS}) VALUES {entry_values}",
                [value for row in entry_rows for value in (*row, *now_params)],
            )
        return posted_at

    def read_datetime(self, value: Any) -> datetime:
        parsed = parse_datetime(value) if isinstance(value, str) else value
        assert isinstance(parsed, datetime)  # noqa: S101 - the column is NOT NULL
        return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


class _PostgresDialect(_Dialect):
    # The clock is read under the lock, per row: an account's entries get increasing posted_at, so "balance as of"
    # is the newest entry at or before an instant, one index lookup.
    lock_suffix = " FOR UPDATE"

    def now(self) -> tuple[str, list[Any]]:
        return "clock_timestamp()", []

    def select_heads(self, cursor: Any, account_ids: list[str]) -> list[tuple[Any, ...]]:
        cursor.execute(
            "SELECT e.account_id, e.sequence, e.balance_after FROM unnest(%s::text[]) AS a(id)"
            " JOIN LATERAL (SELECT account_id, sequence, balance_after FROM ledger_journalentry"
            " WHERE account_id = a.id ORDER BY sequence DESC LIMIT 1) e ON true",
            [account_ids],
        )
        return list(cursor.fetchall())


_POSTGRES = _PostgresDialect()
_SQLITE = _Dialect()


def _dialect() -> _Dialect:
    return _POSTGRES if connection.vendor == "postgresql" else _SQLITE


def _check_spec(requested: AccountSpec, stored: AccountSpec) -> None:
    if requested.currency != stored.currency:
        raise CurrencyMismatchError(f"{stored.code} is a {stored.currency} account, not {requested.currency}")
    if (requested.type, requested.merchant_id, requested.non_negative) != (
        stored.type,
        stored.merchant_id,
        stored.non_negative,
    ):
        raise InvalidPostingError(
            f"{stored.code} exists as {stored.type}/{stored.merchant_id}/non_negative={stored.non_negative}",
            code="ledger_account_mismatch",
        )
