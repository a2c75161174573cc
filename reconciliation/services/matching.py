"""Matching: staged settlement lines ↔ our payment attempts ↔ the ledger, in set-based SQL.

One statement classifies every line of a file into a temporary table (joins on provider reference, then our
reference, then the UPI RRN); the exception queue is filled from it with one ``INSERT … SELECT``, the payment side
(``timing``/``missing_at_provider``) with another, and the matched lines are streamed from it into ``post_many``.
The SQL is portable between PostgreSQL and SQLite; our side is read through querysets compiled into it
(``payments.selectors.settlement_candidates`` and the ledger's journal), never through the payments tables directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, F, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from ledger import references
from ledger.models import JournalTransaction
from ledger.money import Money
from ledger.posting import Posting, post_many
from ledger.recipes import psp_settlement_posting
from payments.selectors import settlement_candidates
from reconciliation.alerts import discrepancies_alert
from reconciliation.enums import DiscrepancyKind, DiscrepancyStatus, Resolution, SettlementFileStatus
from reconciliation.models import (
    Discrepancy,
    DiscrepancyResolution,
    ReconciliationRun,
    SettlementFile,
    SettlementLine,
)

logger = structlog.get_logger(__name__)

_PAGE = 5000
_CLASSIFIED = "recon_classified"
K = DiscrepancyKind


@dataclass(frozen=True)
class _Sql:
    sql: str
    params: tuple[Any, ...]


def _compiled(queryset: QuerySet[Any]) -> _Sql:
    sql, params = queryset.order_by().query.sql_with_params()  # no ORDER BY: it only costs a sort in a join
    return _Sql(sql, tuple(params))


def _captures(connector: str) -> QuerySet[Any]:
    """Our ledger's captures for one connector: what the provider owes us, per payment."""
    return (
        references.captures()
        .filter(metadata__connector=connector)
        .values(
            "occurred_at",
            payment_id=F("source_id"),
            provider_reference=KT("metadata__provider_reference"),
            gross=Cast(KT("metadata__gross"), BigIntegerField()),
        )
    )


def _other_postings(connector: str) -> QuerySet[Any]:
    """Refunds and disputes our ledger recorded with this connector, by the provider's reference."""
    return (
        JournalTransaction.objects.filter(source_type__in=["refund", "dispute"], metadata__connector=connector)
        .exclude(metadata__provider_reference=None)
        .values(provider_reference=KT("metadata__provider_reference"))
        .distinct()
    )


def _refunds(connector: str) -> QuerySet[Any]:
    """Refunds our ledger recorded with this connector, by refund id (the provider's reference comes later)."""
    return (
        JournalTransaction.objects.filter(source_type="refund", metadata__connector=connector)
        .values("source_id")
        .distinct()
    )


def _classify(settlement_file: SettlementFile) -> None:
    connector = settlement_file.connector
    candidates = _compiled(settlement_candidates(connector=connector))
    captures = _compiled(_captures(connector))
    others = _compiled(_other_postings(connector))
    refunds = _compiled(_refunds(connector))
    lines = SettlementLine._meta.db_table
    sql = f"""
        CREATE TEMP TABLE {_CLASSIFIED} AS
        WITH cand AS ({candidates.sql}),
        cap AS ({captures.sql}),
        oth AS ({others.sql}),
        refl AS ({refunds.sql}),
        own AS (SELECT * FROM {lines} WHERE file_id = %s),
        repeated AS (
            SELECT type, provider_reference, MIN(line_number) AS first_line
            FROM own GROUP BY type, provider_reference HAVING COUNT(*) > 1
        ),
        f AS (
            SELECT s.id, s.file_id, s.line_number, s.type, s.provider_reference, s.our_reference, s.rrn,
                   s.currency, s.gross, s.fee, s.net, s.transaction_date,
                   CASE WHEN s.line_number > r.first_line OR EXISTS (
                       SELECT 1 FROM {lines} o
                       WHERE o.connector = s.connector AND o.provider_reference = s.provider_reference
                         AND o.type = s.type AND o.file_id < s.file_id
                   ) THEN 1 ELSE 0 END AS duplicate
            FROM own s
            LEFT JOIN repeated r ON r.type = s.type AND r.provider_reference = s.provider_reference
        ),
        keyed AS (
            SELECT f.*, COALESCE(cp.id, co.id, cr.id) AS attempt_id
            FROM f
            LEFT JOIN cand cp ON cp.provider_reference = f.provider_reference
                AND cp.operation = CASE WHEN f.type = 'refund' THEN 'refund' ELSE 'authorize' END
            LEFT JOIN cand co ON cp.id IS NULL AND f.type IN ('charge', 'refund') AND f.our_reference <> ''
                AND co.id = f.our_reference
                AND co.operation = CASE WHEN f.type = 'refund' THEN 'refund' ELSE 'authorize' END
            LEFT JOIN cand cr ON f.type = 'charge' AND cp.id IS NULL AND co.id IS NULL
                AND NULLIF(cr.upi_rrn, '') = NULLIF(f.rrn, '') AND cr.operation = 'authorize'
        )
        SELECT k.id AS line_id, k.file_id, k.line_number, k.type, k.provider_reference, k.our_reference,
               k.currency, k.gross, k.fee, k.net, k.transaction_date,
               c.payment_id, c.fee AS our_fee, cap.gross AS ledger_gross, c.payment_currency,
               CASE
                   WHEN k.duplicate = 1 THEN '{K.DUPLICATE}'
                   WHEN k.type = 'charge' THEN CASE
                       WHEN c.id IS NULL THEN '{K.MISSING_IN_LEDGER}'
                       WHEN c.payment_status <> 'succeeded' AND c.payment_method = 'upi' THEN '{K.LATE_SUCCESS}'
                       WHEN c.payment_status <> 'succeeded' THEN '{K.STATUS_MISMATCH}'
                       WHEN cap.payment_id IS NULL THEN '{K.MISSING_IN_LEDGER}'
                       WHEN k.currency <> c.payment_currency THEN '{K.CURRENCY_MISMATCH}'
                       WHEN k.gross <> cap.gross THEN '{K.AMOUNT_MISMATCH}'
                       WHEN c.fee IS NOT NULL AND k.fee <> c.fee THEN '{K.FEE_MISMATCH}'
                   END
                   WHEN k.type = 'refund' AND c.id IS NOT NULL THEN CASE
                       WHEN refl.source_id IS NULL THEN '{K.MISSING_IN_LEDGER}'
                       WHEN k.currency <> c.payment_currency THEN '{K.CURRENCY_MISMATCH}'
                       WHEN -k.gross <> c.amount THEN '{K.AMOUNT_MISMATCH}'
                   END
                   WHEN oth.provider_reference IS NOT NULL THEN NULL
                   WHEN k.type = 'refund' THEN '{K.REFUND_NETTING}'
                   ELSE '{K.MISSING_IN_LEDGER}'
               END AS kind
        FROM keyed k
        LEFT JOIN cand c ON c.id = k.attempt_id
        LEFT JOIN cap ON k.type = 'charge' AND cap.payment_id = c.payment_id
        LEFT JOIN refl ON k.type = 'refund' AND refl.source_id = COALESCE(c.refund_id, c.id)
        LEFT JOIN oth ON k.type <> 'charge' AND oth.provider_reference = k.provider_reference
    """  # noqa: S608 - table names and enum values only; every value is a parameter
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Room for the hash joins and aggregates in memory, for this transaction only: with the default 4 MB
            # a million-line day spills to disk and falls back to sorting text keys (3x slower at 100k lines).
            # And no JIT: the statement's estimated cost makes PostgreSQL compile it with full optimisation, which
            # took 1.9 s of a 2.5 s run at 100k lines and never paid for itself.
            cursor.execute("SELECT set_config('work_mem', %s, true)", (settings.RECONCILIATION_WORK_MEM,))
            cursor.execute("SELECT set_config('jit', 'off', true)")
            # The nightly matching of a whole day is the one statement allowed to run past the application's
            # statement timeout (DATABASE_STATEMENT_TIMEOUT_MS), for this transaction only.
            cursor.execute("SELECT set_config('statement_timeout', '0', true)")
        # Fresh statistics for the lines just loaded; without them the planner takes thousands for three.
        cursor.execute(f"ANALYZE {lines}")
        cursor.execute(f"DROP TABLE IF EXISTS {_CLASSIFIED}")
        cursor.execute(sql, (*candidates.params, *captures.params, *others.params, *refunds.params, settlement_file.pk))
        cursor.execute(f"CREATE INDEX {_CLASSIFIED}_line ON {_CLASSIFIED} (line_id)")
        cursor.execute(f"CREATE INDEX {_CLASSIFIED}_payment ON {_CLASSIFIED} (payment_id)")
        cursor.execute(f"ANALYZE {_CLASSIFIED}")


_DISCREPANCY_COLUMNS = (
    "kind, connector, key, run_id, file_id, line_number, provider_reference, our_reference, payment_id, currency,"
    " our_currency, settlement_amount, our_amount, settlement_fee, our_fee, detail, status, resolution"
)


def _record_line_discrepancies(run: ReconciliationRun) -> int:
    table = Discrepancy._meta.db_table
    sql = f"""
        INSERT INTO {table} ({_DISCREPANCY_COLUMNS})
        SELECT kind, %s,
               CASE WHEN kind = '{K.DUPLICATE}'
                    THEN type || ':' || provider_reference || ':' || CAST(file_id AS VARCHAR(20)) || ':'
                         || CAST(line_number AS VARCHAR(20))
                    ELSE type || ':' || provider_reference END,
               %s, file_id, line_number, provider_reference, our_reference, COALESCE(payment_id, ''), currency,
               COALESCE(payment_currency, ''), gross, ledger_gross, fee, our_fee, '', %s, ''
        FROM {_CLASSIFIED} WHERE kind IS NOT NULL
        ON CONFLICT (connector, kind, key) DO NOTHING
    """  # noqa: S608 - table names only
    with connection.cursor() as cursor:
        cursor.execute(sql, (run.file.connector, run.pk, DiscrepancyStatus.OPEN))
        return max(int(cursor.rowcount), 0)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _record_payment_side(run: ReconciliationRun) -> int:
    """Captures the provider should have settled by now but has not, in any file so far.

    A capture on day T belongs in the file of T + lag. Absent from that file it is ``timing`` (it may come in a later
    batch, and clears itself when it does); still absent ``RECONCILIATION_MISSING_AFTER_DAYS`` later it is
    ``missing_at_provider``. Only a window of recent days is looked at, so a run's cost does not grow with history.
    """
    settlement_file = run.file
    lag = settings.RECONCILIATION_SETTLEMENT_LAG_DAYS
    delay = settings.RECONCILIATION_MISSING_AFTER_DAYS
    expected_day = _day_start(settlement_file.settlement_date - timedelta(days=lag))
    missing_until = expected_day - timedelta(days=delay - 1)
    lookback_from = missing_until - timedelta(days=settings.RECONCILIATION_LOOKBACK_DAYS)
    captures = _compiled(_captures(settlement_file.connector))
    table = Discrepancy._meta.db_table
    lines = SettlementLine._meta.db_table
    sql = f"""
        INSERT INTO {table} ({_DISCREPANCY_COLUMNS})
        SELECT CASE WHEN cap.occurred_at >= %s THEN '{K.TIMING}' ELSE '{K.MISSING_AT_PROVIDER}' END,
               %s, cap.payment_id, %s, %s, NULL, COALESCE(cap.provider_reference, ''), '', cap.payment_id, '',
               '', NULL, cap.gross, NULL, NULL, '', %s, ''
        FROM ({captures.sql}) cap
        WHERE ((cap.occurred_at >= %s AND cap.occurred_at < %s) OR (cap.occurred_at >= %s AND cap.occurred_at < %s))
          AND NOT EXISTS (
              SELECT 1 FROM {lines} s
              WHERE s.connector = %s AND s.provider_reference = cap.provider_reference AND s.type = 'charge'
          )
          AND NOT EXISTS (SELECT 1 FROM {_CLASSIFIED} m WHERE m.payment_id = cap.payment_id AND m.type = 'charge')
        ON CONFLICT (connector, kind, key) DO NOTHING
    """  # noqa: S608 - table names and enum values only
    params = (
        expected_day,
        settlement_file.connector,
        run.pk,
        settlement_file.pk,
        DiscrepancyStatus.OPEN,
        *captures.params,
        expected_day,
        expected_day + timedelta(days=1),
        lookback_from,
        missing_until,
        settlement_file.connector,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(int(cursor.rowcount), 0)


def _clear_arrived_timing(run: ReconciliationRun) -> int:
    """A ``timing`` discrepancy whose charge arrived (matched) in this file is resolved, and the clearing audited."""
    # Only charges clear a timing discrepancy: it is about a capture, and a refund line names the same payment.
    arrived_sql = f"SELECT payment_id FROM {_CLASSIFIED} WHERE kind IS NULL AND type = 'charge'"  # noqa: S608 - fixed
    arrived = RawSQL(arrived_sql, ())  # noqa: S611 - fixed SQL, no input
    ids = list(
        Discrepancy.objects.filter(
            connector=run.file.connector, kind=K.TIMING, status=DiscrepancyStatus.OPEN, key__in=arrived
        ).values_list("id", flat=True)
    )
    if not ids:
        return 0
    DiscrepancyResolution.objects.bulk_create(
        DiscrepancyResolution(
            discrepancy_id=pk,
            action=Resolution.AUTO_CLEARED,
            actor="reconciliation",
            reason=f"settled in {run.file} (run {run.pk})",
        )
        for pk in ids
    )
    return Discrepancy.objects.filter(id__in=ids).update(
        status=DiscrepancyStatus.RESOLVED, resolution=Resolution.AUTO_CLEARED
    )


def _matched_postings(connector: str) -> Iterator[Posting]:
    last = 0
    sql = f"""
        SELECT line_id, type, provider_reference, our_reference, currency, gross, fee, transaction_date
        FROM {_CLASSIFIED} WHERE kind IS NULL AND line_id > %s ORDER BY line_id LIMIT {_PAGE}
    """  # noqa: S608 - fixed names
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, (last,))
            rows = cursor.fetchall()
        for line_id, line_type, reference, ours, currency, gross, fee, occurred_at in rows:
            last = line_id
            if not gross and not fee:
                continue
            yield psp_settlement_posting(
                connector=connector,
                settlement_id=f"{line_type}:{reference}",
                gross=Money(gross, currency),
                fee=Money(fee, currency),
                occurred_at=_aware(occurred_at),
                provider_reference=reference,
                our_reference=ours,
            )
        if len(rows) < _PAGE:
            return


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite hands back text from a temporary table
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _totals(run: ReconciliationRun) -> None:
    sql = f"""
        SELECT COUNT(*), COALESCE(SUM(gross), 0), COALESCE(SUM(fee), 0), COALESCE(SUM(net), 0),
               COALESCE(SUM(CASE WHEN kind IS NULL THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN kind IS NULL THEN gross ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN kind IS NULL THEN COALESCE(ledger_gross, gross) ELSE 0 END), 0)
        FROM {_CLASSIFIED}
    """  # noqa: S608 - fixed names
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone() or (0,) * 7
    (run.lines, run.settlement_gross, run.settlement_fee, run.settlement_net, run.matched, run.matched_gross,
     run.ledger_gross) = (int(value) for value in row)  # fmt: skip
    run.unmatched = run.lines - run.matched


def settlement_file_reconcile(*, settlement_file: SettlementFile, post: bool = True) -> ReconciliationRun:
    """Match one imported file and record the outcome; running it again changes neither ledger nor queue.

    Discrepancies are keyed by what they are about, so a re-run finds the ones it found before (resolved ones stay
    resolved); matched lines are posted under deterministic references, so posting them again is a no-op.
    """
    started = time.monotonic()
    run = ReconciliationRun.objects.create(file=settlement_file, started_at=timezone.now())
    try:
        with transaction.atomic():
            _classify(settlement_file)
            _totals(run)
            new = _record_line_discrepancies(run)
            new += _record_payment_side(run)
            _clear_arrived_timing(run)
        if post:
            result = post_many(_matched_postings(settlement_file.connector))
            run.posted = result.posted
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_CLASSIFIED}")
    run.new_discrepancies = new
    run.finished_at = timezone.now()
    run.duration_ms = int((time.monotonic() - started) * 1000)
    run.save()
    SettlementFile.objects.filter(pk=settlement_file.pk).update(status=SettlementFileStatus.RECONCILED)
    logger.info(
        "reconciliation_run",
        run=run.pk,
        connector=settlement_file.connector,
        date=str(settlement_file.settlement_date),
        lines=run.lines,
        matched=run.matched,
        new_discrepancies=new,
        posted=run.posted,
        duration_ms=run.duration_ms,
    )
    discrepancies_alert(run=run)
    return run
