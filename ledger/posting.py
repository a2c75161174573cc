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

Steps 2-5 hold the account locks, so on PostgreSQL they run server-side in one call of ``ledger_post()``
(migration 0003): no client round trip happens while the locks are held, and outside a caller's transaction a
posting is a single round trip (see ``docs/performance.md``). SQLite, the embedded shape, runs the same steps in
Python under ``BEGIN IMMEDIATE``, which is its lock.

No balance is ever updated: entries are the only copy of a balance, so nothing can disagree with them. A
deferred constraint trigger re-checks, at commit, that each transaction balances (migration 0002). Requires READ
COMMITTED (Django's default).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

import structlog
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

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
    TransactionNotFoundError,
    UnbalancedPostingError,
)
from ledger.models import Account, JournalTransaction
from ledger.money import Money
from ledger.seal import SealedEntry, transaction_mac

logger = structlog.get_logger(__name__)

MAX_ATTEMPTS = 5
DEFAULT_CHUNK_SIZE = 500
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


@dataclass(frozen=True, slots=True)
class Leg:
    """One entry. ``no_overdraft``: refuse (``InsufficientFundsError``) if this entry takes the account below zero,
    even on an account that may otherwise go negative (a payout from a merchant's available balance)."""

    account: AccountSpec
    direction: Direction
    money: Money
    no_overdraft: bool = False


def debit(account: AccountSpec | Account, money: Money, *, no_overdraft: bool = False) -> Leg:
    return Leg(spec_of(account), Direction.DEBIT, money, no_overdraft)


def credit(account: AccountSpec | Account, money: Money, *, no_overdraft: bool = False) -> Leg:
    return Leg(spec_of(account), Direction.CREDIT, money, no_overdraft)


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
    available_on: datetime | None = None


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
    available_on: datetime
    metadata_json: str
    mac: str


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
    available_on: datetime | None = None,
) -> JournalTransaction:
    """Write one balanced journal transaction, or return the one already posted under ``reference``.

    ``available_on`` (default: now) is when the money it moves counts as available to a merchant; it is stored
    with the transaction and never recomputed.

    Raises ``InvalidPostingError`` subclasses for malformed postings, ``InsufficientFundsError`` when a
    non-negative account would go below zero and ``LedgerConflictError`` when ``reference`` was posted with
    different entries; in every case nothing is written.
    """
    posting = Posting(
        reference, entries, description, occurred_at, source_type, source_id, metadata, None, available_on
    )
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
        unique = _without_repeats([_prepare(p) for p in chunk])
        posted, existing = _post_chunk_with_retries(unique)
        result.posted += len(posted)
        result.already_posted += len(existing) + len(chunk) - len(unique)
    return result


def reverse(
    original: JournalTransaction | str,
    *,
    reference: str | None = None,
    description: str = "",
    occurred_at: datetime | None = None,
    metadata: Mapping[str, Any] | None = None,
    substitute: Mapping[str, AccountSpec] | None = None,
) -> JournalTransaction:
    """Post the exact opposite of ``original``'s entries as a new transaction that references it.

    Idempotent like ``post``: the default reference is ``{original.reference}:reversal``. A transaction is
    reversed at most once (``reverses`` is unique). ``substitute`` (account code → account) sends an entry's
    opposite to another account of the same currency: money taken from one balance given back to another.
    """
    substitute = substitute or {}
    if isinstance(original, str):
        original = _transaction_get(original)
    reference = reference or f"{original.reference}:reversal"
    existing = JournalTransaction.objects.filter(reverses=original).values_list("reference", flat=True).first()
    if existing is not None and existing != reference:
        raise LedgerConflictError(f"{original.reference} was already reversed by {existing}", reference=reference)
    legs = [
        Leg(
            substitute.get(entry.account.code) or spec_of(entry.account),
            Direction.CREDIT if entry.direction == Direction.DEBIT else Direction.DEBIT,
            Money(entry.amount, entry.currency),
        )
        for entry in original.entries.select_related("account").order_by("id")
    ]
    posting = Posting(
        reference=reference,
        entries=legs,
        description=description or f"Reversal of {original.reference}",
        occurred_at=occurred_at,
        source_type=original.source_type,
        source_id=original.source_id,
        metadata=metadata,
        reverses_id=original.id,
    )
    return _post_one(posting)


def _transaction_get(transaction_id: str) -> JournalTransaction:
    found: JournalTransaction | None = JournalTransaction.objects.filter(pk=transaction_id).first()
    if found is None:
        raise TransactionNotFoundError(f"no journal transaction {transaction_id}", param="original")
    return found


def lock_balances(specs: Iterable[AccountSpec]) -> dict[str, Money]:
    """Locks ``specs`` (creating any that do not exist) until the caller's transaction ends, and returns each one's
    balance by code.

    For a posting whose entries depend on balances (a debit that draws on available funds before pending ones):
    lock every account the posting will touch, decide its entries, then ``post`` — the locks are the ones
    ``post`` takes itself, in the same (id) order, so this never deadlocks against other postings.
    """
    if not connection.in_atomic_block:
        raise InvalidPostingError("lock_balances only makes sense inside the caller's transaction")
    wanted = {spec.code: spec for spec in specs}
    with connection.cursor() as cursor:
        heads = _lock_and_read_heads(cursor, wanted)
    return {code: Money(head.balance, head.spec.currency) for code, head in heads.items()}


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
        if money.currency != leg.account.currency:
            raise CurrencyMismatchError(
                f"{posting.reference}: {money} posted to {leg.account.code}, a {leg.account.currency} account"
            )
        signed = money.amount if leg.direction == Direction.DEBIT else -money.amount
        totals[money.currency] = totals.get(money.currency, 0) + signed
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        raise UnbalancedPostingError(f"{posting.reference}: debits minus credits is {unbalanced}, not zero")
    metadata = json.dumps(dict(posting.metadata or {}), cls=DjangoJSONEncoder, sort_keys=True)
    now = timezone.now()
    transaction_id = new_id("txn")
    occurred_at = posting.occurred_at or now
    available_on = posting.available_on or now
    mac = transaction_mac(
        transaction_id=transaction_id,
        reference=posting.reference,
        description=posting.description,
        occurred_at=occurred_at,
        source_type=posting.source_type,
        source_id=posting.source_id,
        metadata=metadata,
        reverses_id=posting.reverses_id,
        available_on=available_on,
        entries=[SealedEntry(leg.account.code, leg.direction, leg.money.amount, leg.money.currency) for leg in legs],
    )
    return _Prepared(
        posting=posting,
        id=transaction_id,
        fingerprint=fingerprint(legs),
        occurred_at=occurred_at,
        available_on=available_on,
        metadata_json=metadata,
        mac=mac,
    )


def _without_repeats(chunk: list[_Prepared]) -> list[_Prepared]:
    """A reference repeated within one batch: the same fact counts once, a different one is a conflict."""
    seen: dict[str, str] = {}
    unique = []
    for prepared in chunk:
        reference = prepared.posting.reference
        if reference not in seen:
            seen[reference] = prepared.fingerprint
            unique.append(prepared)
        elif seen[reference] != prepared.fingerprint:
            raise LedgerConflictError(f"{reference} appears twice with different entries", reference=reference)
    return unique


def fingerprint(legs: Iterable[Leg]) -> str:
    """What makes two postings under one reference the same fact: their entries, in any order.

    (The trailing ``|`` once carried an overflow account; it stays so fingerprints of older postings still match.)
    """
    parts = sorted(f"{leg.account.code}|{leg.direction}|{leg.money.amount}|{leg.money.currency}|" for leg in legs)
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


def _write_chunk(chunk: list[_Prepared]) -> list[datetime]:
    """Writes the chunk atomically and returns each posting's posted_at, or raises ``_ReferencesTaken``."""
    specs: dict[str, AccountSpec] = {}
    for prepared in chunk:
        for leg in prepared.posting.entries:
            specs.setdefault(leg.account.code, leg.account)
    if connection.vendor == "postgresql":
        return _write_chunk_postgres(chunk, specs)
    return _write_chunk_portable(chunk, specs)


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
        available_on=prepared.available_on,
        mac=prepared.mac,
    )
    txn._state.adding = False
    txn._state.db = connection.alias
    return txn


# --- PostgreSQL: one call of the ledger_post function (migration 0003) ---------------------------------------

_POST_SQL = "SELECT ledger_post(%s::jsonb)"


def _write_chunk_postgres(
    chunk: list[_Prepared], specs: dict[str, AccountSpec], *, create_accounts: bool = False
) -> list[datetime]:
    """Ids for new accounts are only generated when the first call says accounts are missing (rare, and an id
    costs ~20 us of client CPU, a quarter of a posting's)."""
    codes = sorted(specs)
    index = {code: position for position, code in enumerate(codes, start=1)}
    payload = {
        "a": [
            [
                code,
                s.name or code,
                s.type,
                s.currency,
                s.merchant_id,
                s.non_negative,
                new_id("acc") if create_accounts else None,
            ]
            for code, s in ((code, specs[code]) for code in codes)
        ],
        "t": [
            [
                p.id,
                p.posting.reference,
                p.posting.description,
                p.occurred_at.isoformat(),
                p.posting.source_type,
                p.posting.source_id,
                p.metadata_json,
                p.fingerprint,
                p.posting.reverses_id,
                p.available_on.isoformat(),
                p.mac,
            ]
            for p in chunk
        ],
        "l": [
            [n, index[leg.account.code], leg.direction, leg.money.amount, leg.no_overdraft]
            for n, p in enumerate(chunk, start=1)
            for leg in p.posting.entries
        ],
    }
    try:
        # Outside a transaction the call is its own (one round trip, committed by the server); inside a caller's
        # transaction a savepoint keeps a refusal from aborting the caller's work.
        with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
            cursor.execute(_POST_SQL, [json.dumps(payload, separators=(",", ":"))])
            (posted_at,) = cursor.fetchone()
    except DatabaseError as error:
        if getattr(error.__cause__, "sqlstate", None) == "LN004" and not create_accounts:
            return _write_chunk_postgres(chunk, specs, create_accounts=True)
        _raise_domain_error(error)
        raise
    return [posted_at] * len(chunk)


def _raise_domain_error(error: DatabaseError) -> None:
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    detail = getattr(getattr(cause, "diag", None), "message_detail", None) or ""
    if sqlstate == "LN001":
        reference, account_id, balance, shortfall = detail.split("\n")
        raise InsufficientFundsError(
            f"{reference}: account {account_id} has {balance}, {shortfall} short",
            account_id=account_id,
            balance=int(balance),
            shortfall=int(shortfall),
        ) from None
    if sqlstate == "LN002":
        raise _ReferencesTaken(set(detail.split("\n"))) from None
    if sqlstate == "LN003":
        raise InvalidPostingError(
            f"account {detail} exists with another type, currency, merchant or flag", code="ledger_account_mismatch"
        ) from None


# --- SQLite (the embedded shape): the same algorithm in Python; BEGIN IMMEDIATE is the lock ---------------------


@dataclass(slots=True)
class _Head:
    id: str
    spec: AccountSpec
    sequence: int
    balance: int


def _write_chunk_portable(chunk: list[_Prepared], specs: dict[str, AccountSpec]) -> list[datetime]:
    with transaction.atomic(), connection.cursor() as cursor:
        heads = _lock_and_read_heads(cursor, specs)
        entry_rows: list[tuple[Any, ...]] = []
        for prepared in chunk:
            entry_rows.extend(_entry_rows(prepared, heads))
        posted_at = _insert(cursor, chunk, entry_rows)
        if len(posted_at) != len(chunk):
            raise _ReferencesTaken({p.posting.reference for p in chunk} - set(posted_at))
    return [posted_at[p.posting.reference] for p in chunk]


def _entry_rows(prepared: _Prepared, heads: dict[str, _Head]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    posting = prepared.posting
    for leg in posting.entries:
        head = heads[leg.account.code]
        direction, amount = leg.direction, leg.money.amount
        grows = (direction == Direction.DEBIT) == head.spec.debit_normal
        balance = head.balance + (amount if grows else -amount)
        if (head.spec.non_negative or leg.no_overdraft) and balance < 0:
            raise InsufficientFundsError(
                f"{posting.reference}: account {head.id} has {head.balance}, {-balance} short",
                account_id=head.id,
                balance=head.balance,
                shortfall=-balance,
            )
        head.sequence += 1
        head.balance = balance
        rows.append(
            (prepared.id, head.id, head.spec.merchant_id, direction, amount, head.spec.currency, head.sequence, balance)
        )
    return rows


def _now() -> Any:
    return connection.ops.adapt_datetimefield_value(timezone.now())


def _select_accounts(cursor: Any, codes: list[str]) -> list[tuple[Any, ...]]:
    placeholders = ", ".join(["%s"] * len(codes))
    # PostgreSQL: the same lock, in the same order, that ledger_post() takes (SQLite's is BEGIN IMMEDIATE).
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    cursor.execute(
        "SELECT id, code, type, currency, merchant_id, non_negative FROM ledger_account"
        f" WHERE code IN ({placeholders}) ORDER BY id{lock}",
        codes,
    )
    return list(cursor.fetchall())


def _lock_and_read_heads(cursor: Any, specs: dict[str, AccountSpec]) -> dict[str, _Head]:
    codes = sorted(specs)
    rows = _select_accounts(cursor, codes)
    if len(rows) < len(codes):
        found = {row[1] for row in rows}
        missing = [specs[code] for code in codes if code not in found]
        params: list[Any] = []
        for spec in missing:
            params += [new_id("acc"), spec.code, spec.name or spec.code, spec.type, spec.currency]
            params += [spec.merchant_id, spec.non_negative, _now()]
        cursor.execute(
            "INSERT INTO ledger_account (id, code, name, type, currency, merchant_id, non_negative, created) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(missing))
            + " ON CONFLICT (code) DO NOTHING",
            params,
        )
        rows = _select_accounts(cursor, codes)
    heads: dict[str, _Head] = {}
    for account_id, code, type_, currency, merchant_id, non_negative in rows:
        stored = AccountSpec(code, AccountType(type_), currency, merchant_id, bool(non_negative))
        requested = specs[code]
        if (requested.type, requested.currency, requested.merchant_id, requested.non_negative) != (
            stored.type,
            stored.currency,
            stored.merchant_id,
            stored.non_negative,
        ):
            raise InvalidPostingError(
                f"account {code} exists with another type, currency, merchant or flag", code="ledger_account_mismatch"
            )
        heads[code] = _Head(account_id, stored, 0, 0)
    by_id = {head.id: head for head in heads.values()}
    branch = (
        "SELECT * FROM (SELECT account_id, sequence, balance_after FROM ledger_journalentry"
        " WHERE account_id = %s ORDER BY sequence DESC LIMIT 1) AS head"
    )
    cursor.execute(" UNION ALL ".join([branch] * len(by_id)), list(by_id))
    for account_id, sequence, balance in cursor.fetchall():
        by_id[account_id].sequence = sequence
        by_id[account_id].balance = balance
    return heads


def _insert(cursor: Any, chunk: list[_Prepared], entry_rows: list[tuple[Any, ...]]) -> dict[str, datetime]:
    """Inserts the transactions, then (only if none of their references existed) their entries."""
    now = timezone.now()
    params: list[Any] = []
    for prepared in chunk:
        p = prepared.posting
        params += [prepared.id, p.reference, p.description, _adapt(prepared.occurred_at), _adapt(now)]
        params += [p.source_type, p.source_id, prepared.metadata_json, prepared.fingerprint, p.reverses_id]
        params += [_adapt(prepared.available_on), prepared.mac]
    cursor.execute(
        "INSERT INTO ledger_journaltransaction (id, reference, description, occurred_at, posted_at, source_type,"
        " source_id, metadata, fingerprint, reverses_id, available_on, mac) VALUES "
        + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
        + " ON CONFLICT (reference) DO NOTHING RETURNING reference",
        params,
    )
    inserted = {reference: now for (reference,) in cursor.fetchall()}
    if len(inserted) == len(chunk):
        cursor.execute(
            "INSERT INTO ledger_journalentry (transaction_id, account_id, merchant_id, direction, amount, currency,"
            " sequence, balance_after, posted_at) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(entry_rows)),
            [value for row in entry_rows for value in (*row, _adapt(now))],
        )
    return inserted


def _adapt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)
