"""Idempotency keys (api-contract.md, Idempotency): the first response under a key is the only one ever given.

How a request under a key runs, in ONE database transaction (PostgreSQL):

1. One statement takes ``pg_try_advisory_xact_lock`` on the key and reads whether the key has a row. Lock not
   taken: another transaction holds it, that request is still executing, and this one gets
   ``409 idempotency_key_in_use`` at once (no waiting, no Redis). A row: a different fingerprint is
   ``400 idempotency_key_reused``, the same one replays the stored response.
2. The work runs in that same transaction, with no savepoint of its own (a savepoint and its release were two
   round trips on every request to serve the rare failure). Success: the key's row is inserted completed, with the
   response, and commits together with everything the work wrote (the payment, its outbox rows). The unique
   constraint on merchant, livemode and key is the ground truth, the advisory lock only turns "would wait" into an
   immediate 409: if a request under the key committed between this one's snapshot and its lock, the insert finds
   that row (``ON CONFLICT DO NOTHING``), the work is rolled back and the stored response replayed.
3. Failure of any kind (an exception, or an error response returned): the whole transaction is rolled back, and a
   second transaction takes the lock again and stores the error response (a 500 included). If another request
   under the key got in between, its stored response is what this one answers: the first response stored under a
   key is the only one ever given.

The embedded shape's SQLite (one writer at a time) claims the key first with an ``in_progress`` row and completes
it after the work, in the same transaction.

A crash anywhere before the commit leaves nothing behind, so a retry simply executes: the only visible states are
"no row" and ``completed``. Nothing in these requests calls the network (providers are called by the executor
after commit), which is what makes one transaction possible; an endpoint that must call out would commit its
``in_progress`` claim first and complete it in a second transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Now

from core.db import prepared_cursor
from payments.enums import IdempotencyStatus
from payments.exceptions import IdempotencyKeyInUseError, IdempotencyKeyReusedError, InvalidRequestError
from payments.models import IdempotencyKey

MAX_KEY_LENGTH = 255
# First argument of the two-key advisory lock: keeps these locks apart from any other advisory lock user.
_LOCK_NAMESPACE = 0x1D3A


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    replayed: bool = False
    # The rendered JSON as first sent; a replay sends these bytes (``None`` only for rows stored before them).
    content: str | None = None


def idempotency_key_validate(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequestError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            code="idempotency_key_invalid",
            param="Idempotency-Key",
        )
    return key


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    """Keyed hash of what makes two requests "the same": method, path and the body's canonical JSON.

    Keyed, because bodies carry card numbers: a plain hash of a body whose other fields are known could be
    reversed by trying every number of a card range.
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    key = f"idempotency:{settings.LEDGERLINE_FINGERPRINT_SECRET}".encode()
    message = f"{method.upper()}\n{path}\n{canonical}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _claim(*, merchant_id: str, livemode: bool, key: str, fingerprint: str, method: str, path: str) -> int | None:
    """Inserts the key's row; returns its id, or ``None`` when the key already has one."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {IdempotencyKey._meta.db_table}
                    (merchant_id, livemode, key, fingerprint, method, path, status)
                VALUES (%s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (merchant_id, livemode, key) DO NOTHING
                RETURNING id""",  # noqa: S608 - the table name is ours; every value is a bound parameter
            [merchant_id, livemode, key, fingerprint, method, path[:500], IdempotencyStatus.IN_PROGRESS],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None  # ``created`` takes the column's database default


def _lock_and_find(*, merchant_id: str, livemode: bool, key: str) -> bool:
    """PostgreSQL: the key's advisory lock and whether the key already has a row, in one round trip; True when the
    key is free. Raises ``IdempotencyKeyInUseError`` when another transaction holds the key's lock."""
    with prepared_cursor() as cursor:
        # The lock is a MATERIALIZED CTE, taken once, first. The row's absence is read in this statement's snapshot,
        # which may predate the commit of a request that held the lock until just now: that request's row is then
        # found by the unique constraint when this one stores its own (``_store``), and this one's work rolls back.
        cursor.execute(
            f"""WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(%s, hashtext(%s)) AS granted)
                SELECT lock.granted, EXISTS (
                    SELECT 1 FROM {IdempotencyKey._meta.db_table} WHERE merchant_id = %s AND livemode = %s AND key = %s
                ) FROM lock""",  # noqa: S608 - as in _claim
            [_LOCK_NAMESPACE, f"{merchant_id}:{livemode}:{key}", merchant_id, livemode, key],
        )
        row = cursor.fetchone()
    if row is None or not row[0]:
        raise IdempotencyKeyInUseError()
    return not row[1]


def _store(
    *, merchant_id: str, livemode: bool, key: str, fingerprint: str, method: str, path: str, response: StoredResponse
) -> bool:
    """PostgreSQL: the key's row, completed with ``response``, inserted once the work is done (one row version,
    where a claim inserted first and updated after made two); False when the key got a row meanwhile (see
    ``_lock_and_find``): nothing is inserted then, and the caller rolls its work back."""
    body = IdempotencyKey._meta.get_field("response_body").get_db_prep_save(response.body, connection)
    with prepared_cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {IdempotencyKey._meta.db_table}
                    (merchant_id, livemode, key, fingerprint, method, path, status, response_status, response_body,
                     response_content, completed_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, STATEMENT_TIMESTAMP())
                ON CONFLICT (merchant_id, livemode, key) DO NOTHING
                RETURNING id""",  # noqa: S608 - as in _claim
            [
                merchant_id,
                livemode,
                key,
                fingerprint,
                method,
                path[:500],
                IdempotencyStatus.COMPLETED,
                response.status,
                body,
                response.content,
            ],
        )
        return cursor.fetchone() is not None


class _Taken(Exception):
    """Another request's row under the key committed while this one worked: roll back, answer with that row."""


class _Failed(Exception):
    """The work failed: its transaction is rolled back, and this carries what to store under the key instead."""

    def __init__(self, error: Exception | None = None, response: StoredResponse | None = None) -> None:
        super().__init__()
        self.error = error
        self.response = response


def idempotent_execute(
    *,
    merchant_id: str,
    livemode: bool,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    work: Callable[[], StoredResponse],
    on_error: Callable[[Exception], StoredResponse],
) -> StoredResponse:
    """Runs ``work`` at most once per (merchant, livemode, key) and returns its response, or the stored one.

    ``work`` writes through services and returns the response to store; ``on_error`` turns any exception it
    raised into the (error) response to store. Raises ``IdempotencyKeyInUseError`` and
    ``IdempotencyKeyReusedError``, which are not stored, so a corrected retry with the same key works.
    """

    postgres = connection.vendor == "postgresql"

    def replay() -> StoredResponse:
        return _replay(merchant_id=merchant_id, livemode=livemode, key=key, fingerprint=fingerprint)

    def begin() -> int | None:
        """The key's claim (the embedded shape's SQLite: its row's id) or ``0`` (PostgreSQL: the lock, the key
        free); ``None`` when the key already has a row."""
        if postgres:
            return 0 if _lock_and_find(merchant_id=merchant_id, livemode=livemode, key=key) else None
        # SQLite runs IMMEDIATE transactions, one writer at a time: the claim is the lock.
        return _claim(
            merchant_id=merchant_id, livemode=livemode, key=key, fingerprint=fingerprint, method=method, path=path
        )

    def finish(claimed: int, response: StoredResponse) -> None:
        if not postgres:
            _complete(claimed, response)
        elif not _store(
            merchant_id=merchant_id,
            livemode=livemode,
            key=key,
            fingerprint=fingerprint,
            method=method,
            path=path,
            response=response,
        ):
            raise _Taken()

    try:
        with transaction.atomic():
            claimed = begin()
            if claimed is None:
                return replay()
            try:
                response = work()
            except Exception as exc:  # every failure after work started is stored, a 500 included (the contract)
                raise _Failed(error=exc) from exc
            if response.status >= 400:
                # An error returned rather than raised must not keep what the work wrote either.
                raise _Failed(response=response)
            finish(claimed, response)
            return response
    except _Failed as failed:
        # Rolled back; the error response is made now, outside the failed transaction.
        error = failed.response if failed.response is not None else on_error(failed.error or RuntimeError())
    except _Taken:
        return replay()  # rolled back: the first response stored under the key is the only one given
    try:
        with transaction.atomic():
            claimed = begin()
            if claimed is None:
                return replay()
            finish(claimed, error)
            return error
    except _Taken:
        return replay()


def _complete(claimed: int, response: StoredResponse) -> None:
    """The embedded shape's completion of its claim (PostgreSQL stores the completed row at once, ``_store``)."""
    IdempotencyKey.objects.filter(pk=claimed).update(
        status=IdempotencyStatus.COMPLETED,
        response_status=response.status,
        response_body=response.body,
        response_content=response.content,
        completed_at=Now(),
    )


def _replay(*, merchant_id: str, livemode: bool, key: str, fingerprint: str) -> StoredResponse:
    stored = IdempotencyKey.objects.get(merchant_id=merchant_id, livemode=livemode, key=key)
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was already used with different parameters or on another endpoint."
        )
    if stored.status != IdempotencyStatus.COMPLETED or stored.response_status is None:
        raise IdempotencyKeyInUseError()
    return StoredResponse(
        status=stored.response_status,
        body=stored.response_body or {},
        replayed=True,
        content=stored.response_content or None,
    )


def idempotent_response_replace(*, merchant_id: str, livemode: bool, key: str, response: StoredResponse) -> None:
    """Stores ``response`` as the answer of a completed key, in place of the one its work returned.

    For an endpoint that answers after waiting, once its work committed, on what that work started (the Stripe
    API's confirm waits on the provider's answer): what it finally told the client is what a retry replays."""
    IdempotencyKey.objects.filter(
        merchant_id=merchant_id, livemode=livemode, key=key, status=IdempotencyStatus.COMPLETED
    ).update(response_status=response.status, response_body=response.body, response_content=response.content)


def idempotency_keys_delete_expired(*, batch_size: int = 5000) -> int:
    """Deletes keys older than ``IDEMPOTENCY_KEY_TTL_HOURS``, in batches so no statement holds locks for long."""
    cutoff = Now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted = 0
    while True:
        ids = list(IdempotencyKey.objects.filter(created__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=ids).delete()[0]
