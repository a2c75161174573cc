"""Tamper evidence: a MAC on every posted transaction, and a hash chain sealed over them after commit.

What it proves (docs/ledger-integrity.md has the threat model):

* **Every transaction's MAC** is an HMAC-SHA256, under ``LEDGER_SEAL_KEY`` (held by the application, never stored
  in the database), of the transaction's fields and its entries (account, direction, amount, currency), computed
  by the application when it posts. A row changed, an entry added or removed, or a transaction inserted by someone
  who can write to the database but does not hold the key (a DBA, a superuser with triggers disabled, a leaked
  database credential) no longer matches.
* **The chain** links transactions in the order the sealer saw them: ``chain = HMAC(key, previous chain, MAC,
  posted_at)``, one ``JournalSeal`` row each. Deleting a sealed transaction leaves its seal naming a missing
  transaction; deleting the seal too breaks the next link. The sealer runs after commit, in batches, under an
  advisory lock, so postings never wait for it.
* **Checkpoints**: after each batch the head of the chain is written to ``JournalCheckpoint`` and to the logs
  (``ledger_sealed``). Cutting the newest links off the chain is only visible against a copy of the head kept
  outside the database; ``verify_ledger --anchor <seal id>:<chain>`` checks one.

What it cannot prove: anything done with the key (the application itself, or whoever steals its environment) can
forge valid rows; rows changed between commit and sealing are still caught by their MAC, but not rows posted by the
application itself with wrong content — that is what the business invariants and reconciliation are for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction

logger = structlog.get_logger(__name__)

# A transaction committed this long after its posted_at is still picked up by the incremental sealer; the nightly
# full pass (``seal_pending(full=True)``) catches anything later.
SEAL_WINDOW = timedelta(hours=1)
_ADVISORY_LOCK = 7_345_120_011  # any constant: one sealer at a time across every process


def _key() -> bytes:
    return str(settings.LEDGER_SEAL_KEY).encode()


def _instant(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def canonical_metadata(metadata: Mapping[str, Any] | str | None) -> str:
    """The metadata as the MAC sees it: independent of how the database stored and returned the JSON."""
    value = json.loads(metadata) if isinstance(metadata, str) else dict(metadata or {})
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@dataclass(frozen=True, slots=True)
class SealedEntry:
    account_code: str
    direction: str
    amount: int
    currency: str


def transaction_mac(
    *,
    transaction_id: str,
    reference: str,
    description: str,
    occurred_at: datetime,
    source_type: str,
    source_id: str,
    metadata: Mapping[str, Any] | str | None,
    reverses_id: str | None,
    available_on: datetime | None,
    entries: Iterable[SealedEntry],
) -> str:
    """The MAC of one transaction: computed when it is posted, recomputed from its rows when it is verified."""
    lines = [
        transaction_id,
        reference,
        description,
        _instant(occurred_at),
        source_type,
        source_id,
        canonical_metadata(metadata),
        reverses_id or "",
        _instant(available_on),
        *sorted(f"{e.account_code}|{e.direction}|{e.amount}|{e.currency}" for e in entries),
    ]
    return hmac.new(_key(), "\x1e".join(lines).encode(), hashlib.sha256).hexdigest()


def chain_link(previous: str, mac: str, posted_at: datetime) -> str:
    return hmac.new(_key(), f"{previous}|{mac}|{_instant(posted_at)}".encode(), hashlib.sha256).hexdigest()


# --- reading transactions with their entries, for sealing and verifying ----------------------------------------

_TXN_COLUMNS = (
    "t.id, t.reference, t.description, t.occurred_at, t.posted_at, t.source_type, t.source_id, t.metadata,"
    " t.reverses_id, t.available_on, t.mac"
)


@dataclass(slots=True)
class StoredTransaction:
    id: str
    reference: str
    description: str
    occurred_at: datetime
    posted_at: datetime
    source_type: str
    source_id: str
    metadata: Any
    reverses_id: str | None
    available_on: datetime | None
    mac: str
    entries: list[SealedEntry]

    def recomputed_mac(self) -> str:
        return transaction_mac(
            transaction_id=self.id,
            reference=self.reference,
            description=self.description,
            occurred_at=self.occurred_at,
            source_type=self.source_type,
            source_id=self.source_id,
            metadata=self.metadata,
            reverses_id=self.reverses_id,
            available_on=self.available_on,
            entries=self.entries,
        )

    @property
    def authentic(self) -> bool:
        return bool(self.mac) and hmac.compare_digest(self.mac, self.recomputed_mac())


def _as_datetime(value: Any) -> Any:
    # SQLite hands raw SQL timestamps back as text or as naive datetimes, in UTC.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _load(cursor: Any, rows: Sequence[tuple[Any, ...]]) -> list[StoredTransaction]:
    """Attaches each transaction's entries (one query for the whole batch)."""
    found = [
        StoredTransaction(
            id=row[0],
            reference=row[1],
            description=row[2],
            occurred_at=_as_datetime(row[3]),
            posted_at=_as_datetime(row[4]),
            source_type=row[5],
            source_id=row[6],
            metadata=row[7],
            reverses_id=row[8],
            available_on=_as_datetime(row[9]),
            mac=row[10] or "",
            entries=[],
        )
        for row in rows
    ]
    if not found:
        return found
    by_id = {txn.id: txn for txn in found}
    placeholders = ", ".join(["%s"] * len(by_id))
    cursor.execute(
        "SELECT e.transaction_id, a.code, e.direction, e.amount, e.currency FROM ledger_journalentry e"
        f" JOIN ledger_account a ON a.id = e.account_id WHERE e.transaction_id IN ({placeholders})",
        list(by_id),
    )
    for transaction_id, code, direction, amount, currency in cursor.fetchall():
        by_id[transaction_id].entries.append(SealedEntry(code, direction, int(amount), currency))
    return found


def stored_transactions(*, batch: int = 2000) -> Iterator[StoredTransaction]:
    """Every transaction with its entries, in id order, a batch at a time (keyset pagination: flat memory)."""
    after = ""
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {_TXN_COLUMNS} FROM ledger_journaltransaction t WHERE t.id > %s ORDER BY t.id LIMIT %s",
                [after, batch],
            )
            loaded = _load(cursor, cursor.fetchall())
        if not loaded:
            return
        yield from loaded
        after = loaded[-1].id


# --- sealing --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SealResult:
    sealed: int = 0
    refused: list[str] | None = None
    head: str = ""
    seal_id: int = 0


def _locked() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite: the transaction's BEGIN IMMEDIATE is already the only writer
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_ADVISORY_LOCK])
        return bool(cursor.fetchone()[0])


def seal_pending(*, limit: int = 5000, full: bool = False) -> SealResult:
    """Appends every unsealed transaction (up to ``limit``) to the chain, oldest first, and checkpoints the head.

    A transaction whose MAC does not match its rows is never sealed: it is logged at ERROR (``ledger_seal_refused``)
    and ``verify_ledger`` names it. Concurrent sealers do not wait: the second one seals nothing.
    """
    result = SealResult(refused=[])
    with transaction.atomic():
        if not _locked():
            return result
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT s.id, s.chain, t.posted_at FROM ledger_journalseal s"
                " LEFT JOIN ledger_journaltransaction t ON t.id = s.transaction_id ORDER BY s.id DESC LIMIT 1"
            )
            head = cursor.fetchone()
            previous, since = (head[1], _as_datetime(head[2])) if head else ("", None)
            where = "NOT EXISTS (SELECT 1 FROM ledger_journalseal s WHERE s.transaction_id = t.id)"
            params: list[Any] = []
            if since is not None and not full:
                where += " AND t.posted_at >= %s"
                params.append(connection.ops.adapt_datetimefield_value(since - SEAL_WINDOW))
            cursor.execute(
                f"SELECT {_TXN_COLUMNS} FROM ledger_journaltransaction t WHERE {where}"
                " ORDER BY t.posted_at, t.id LIMIT %s",
                [*params, limit],
            )
            candidates = _load(cursor, cursor.fetchall())
            links: list[tuple[str, str]] = []
            for txn in candidates:
                if not txn.authentic:
                    result.refused.append(txn.id)  # type: ignore[union-attr]
                    continue
                previous = chain_link(previous, txn.mac, txn.posted_at)
                links.append((txn.id, previous))
            if links:
                cursor.execute(
                    "INSERT INTO ledger_journalseal (transaction_id, chain, sealed_at) VALUES "
                    + ", ".join(["(%s, %s, %s)"] * len(links)),
                    [value for link in links for value in (*link, _now())],
                )
                cursor.execute("SELECT id FROM ledger_journalseal WHERE transaction_id = %s", [links[-1][0]])
                result.seal_id = int(cursor.fetchone()[0])
                cursor.execute(
                    "INSERT INTO ledger_journalcheckpoint (seal_id, chain, sealed, created) VALUES (%s, %s, %s, %s)",
                    [result.seal_id, previous, len(links), _now()],
                )
    result.sealed, result.head = len(links), previous
    if result.refused:
        logger.error("ledger_seal_refused", transactions=result.refused, reason="MAC does not match the rows")
    if links:
        logger.info("ledger_sealed", sealed=len(links), seal_id=result.seal_id, chain=previous)
    return result


def _now() -> Any:
    from django.utils import timezone

    return connection.ops.adapt_datetimefield_value(timezone.now())
