"""SQLite persistence (stdlib sqlite3). Provider objects are JSON documents; money movements are rows.

The server runs on one asyncio thread and handlers never await while mutating, so one connection guarded by a
lock is enough and keeps every handler atomic.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, provider TEXT NOT NULL, reference TEXT, parent_id TEXT,
    created_at TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_by_reference ON objects (provider, kind, reference);
CREATE INDEX IF NOT EXISTS objects_by_parent ON objects (parent_id, kind);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT NOT NULL, kind TEXT NOT NULL, reference TEXT,
    object_id TEXT NOT NULL, charge_id TEXT, amount INTEGER NOT NULL, currency TEXT NOT NULL, fee INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    provider TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,
    body TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (provider, key)
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, provider TEXT NOT NULL, type TEXT NOT NULL, created_at TEXT NOT NULL, body TEXT NOT NULL,
    deliveries TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, due_at TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_due ON jobs (due_at);
CREATE TABLE IF NOT EXISTS settlement_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT NOT NULL, settlement_date TEXT NOT NULL, type TEXT NOT NULL,
    provider_reference TEXT NOT NULL, our_reference TEXT NOT NULL, original_provider_reference TEXT NOT NULL,
    rrn TEXT NOT NULL, currency TEXT NOT NULL, gross INTEGER NOT NULL, fee INTEGER NOT NULL, net INTEGER NOT NULL,
    transaction_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS settlement_by_date ON settlement_items (provider, settlement_date, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_TABLES = ("objects", "records", "idempotency", "events", "jobs", "settlement_items", "meta")


class Store:
    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def reset(self) -> None:
        with self._lock:
            for table in _TABLES:
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self._lock:
            cursor = self._db.execute(sql, args)
            return int(cursor.lastrowid or 0)

    # --- provider objects (charges, tokens, refunds, disputes, UPI transactions) -------------------------------

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._run(
            "INSERT OR REPLACE INTO objects (id, kind, provider, reference, parent_id, created_at, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                obj["id"],
                obj["object"],
                obj["provider"],
                obj.get("reference"),
                obj.get("parent_id"),
                obj["created"],
                json.dumps(obj),
            ),
        )
        return obj

    def get(self, object_id: str, kind: str | None = None, provider: str | None = None) -> dict[str, Any] | None:
        rows = self._all("SELECT kind, provider, data FROM objects WHERE id = ?", (object_id,))
        if not rows:
            return None
        row = rows[0]
        if (kind and row["kind"] != kind) or (provider and row["provider"] != provider):
            return None
        return dict(json.loads(row["data"]))

    def by_reference(self, provider: str, kind: str, reference: str) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT data FROM objects WHERE provider = ? AND kind = ? AND reference = ? ORDER BY created_at, rowid",
            (provider, kind, reference),
        )
        return [dict(json.loads(row["data"])) for row in rows]

    def children(self, parent_id: str, kind: str) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT data FROM objects WHERE parent_id = ? AND kind = ? ORDER BY created_at, rowid",
            (parent_id, kind),
        )
        return [json.loads(row["data"]) for row in rows]

    def list_kind(self, provider: str, kind: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT data FROM objects WHERE provider = ? AND kind = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (provider, kind, limit),
        )
        return [json.loads(row["data"]) for row in rows]

    # --- independent truth: money movements actually applied ------------------------------------------------

    def add_record(
        self,
        *,
        provider: str,
        kind: str,
        reference: str | None,
        object_id: str,
        charge_id: str | None,
        amount: int,
        currency: str,
        fee: int,
        created_at: str,
    ) -> None:
        self._run(
            "INSERT INTO records (provider, kind, reference, object_id, charge_id, amount, currency, fee, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (provider, kind, reference, object_id, charge_id, amount, currency, fee, created_at),
        )

    def records(self, provider: str | None = None, reference: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM records WHERE 1 = 1"
        args: list[Any] = []
        if provider:
            sql += " AND provider = ?"
            args.append(provider)
        if reference:
            sql += " AND reference = ?"
            args.append(reference)
        return [dict(row) for row in self._all(sql + " ORDER BY seq", tuple(args))]

    # --- idempotency ----------------------------------------------------------------------------------------

    def idem_get(self, provider: str, key: str) -> dict[str, Any] | None:
        rows = self._all("SELECT * FROM idempotency WHERE provider = ? AND key = ?", (provider, key))
        return dict(rows[0]) if rows else None

    def idem_put(self, provider: str, key: str, fingerprint: str, status: int, body: str, created_at: str) -> None:
        self._run(
            "INSERT OR REPLACE INTO idempotency (provider, key, fingerprint, status, body, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (provider, key, fingerprint, status, body, created_at),
        )

    # --- webhook events -------------------------------------------------------------------------------------

    def add_event(self, event: dict[str, Any]) -> None:
        self._run(
            "INSERT INTO events (id, provider, type, created_at, body) VALUES (?, ?, ?, ?, ?)",
            (event["id"], event["provider"], event["type"], event["created"], json.dumps(event)),
        )

    def add_delivery(self, event_id: str, attempt: dict[str, Any]) -> None:
        with self._lock:
            rows = self._all("SELECT deliveries FROM events WHERE id = ?", (event_id,))
            if not rows:
                return
            deliveries = json.loads(rows[0]["deliveries"])
            deliveries.append(attempt)
            self._run("UPDATE events SET deliveries = ? WHERE id = ?", (json.dumps(deliveries), event_id))

    def events(self, provider: str | None = None, type_: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT body, deliveries FROM events WHERE 1 = 1"
        args: list[Any] = []
        if provider:
            sql += " AND provider = ?"
            args.append(provider)
        if type_:
            sql += " AND type = ?"
            args.append(type_)
        result = []
        for row in self._all(sql + " ORDER BY created_at, rowid", tuple(args)):
            event = json.loads(row["body"])
            result.append({"event": event, "deliveries": json.loads(row["deliveries"])})
        return result

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        rows = self._all("SELECT body FROM events WHERE id = ?", (event_id,))
        return dict(json.loads(rows[0]["body"])) if rows else None

    # --- scheduled jobs (virtual time) ----------------------------------------------------------------------

    def add_job(self, due_at: str, kind: str, payload: dict[str, Any]) -> None:
        self._run("INSERT INTO jobs (due_at, kind, payload) VALUES (?, ?, ?)", (due_at, kind, json.dumps(payload)))

    def take_due_jobs(self, now: str) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = self._all("SELECT seq, kind, payload FROM jobs WHERE due_at <= ? ORDER BY due_at, seq", (now,))
            for row in rows:
                self._run("DELETE FROM jobs WHERE seq = ?", (row["seq"],))
            return [(row["kind"], json.loads(row["payload"])) for row in rows]

    # --- settlement -----------------------------------------------------------------------------------------

    def add_settlement_item(self, item: dict[str, Any]) -> None:
        self._run(
            "INSERT INTO settlement_items (provider, settlement_date, type, provider_reference, our_reference,"
            " original_provider_reference, rrn, currency, gross, fee, net, transaction_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item["provider"],
                item["settlement_date"],
                item["type"],
                item["provider_reference"],
                item["our_reference"],
                item["original_provider_reference"],
                item["rrn"],
                item["currency"],
                item["gross"],
                item["fee"],
                item["net"],
                item["transaction_at"],
            ),
        )

    def settlement_page(self, provider: str, settlement_date: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT * FROM settlement_items WHERE provider = ? AND settlement_date = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (provider, settlement_date, after_seq, limit),
        )
        return [dict(row) for row in rows]

    def iter_settlement_items(self, provider: str, settlement_date: str, page: int = 500) -> Iterator[dict[str, Any]]:
        """Keyset pagination keeps memory flat however many lines a day has."""
        after = 0
        while True:
            rows = self.settlement_page(provider, settlement_date, after, page)
            if not rows:
                return
            yield from rows
            after = rows[-1]["seq"]

    def settlement_dates(self, provider: str) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT settlement_date, COUNT(*) AS lines, SUM(net) AS net FROM settlement_items WHERE provider = ?"
            " GROUP BY settlement_date ORDER BY settlement_date",
            (provider,),
        )
        return [dict(row) for row in rows]

    # --- small key/value state (clock offset) ---------------------------------------------------------------

    def meta_get(self, key: str) -> str | None:
        rows = self._all("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def meta_set(self, key: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
