"""Matching: staged settlement lines ↔ our payment attempts ↔ the ledger, in set-based SQL.

One statement classifies every line of a file into a temporary table (joins on provider reference, then our
reference, then the UPI RRN); the exception queue is filled from it with one ``INSERT … SELECT``, the payment side
(``timing``/``missing_at_provider``) with another, and the matched lines are streamed from it into ``post_many``.
The SQL is portable between PostgreSQL and SQLite; our side is read through querysets compiled into it
(``payments.selectors.settlement_candidates`` and the ledger's journal), never through the payments tables directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, DateTimeField, F, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT, KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from ledger import references
from ledger.enums import Direction
from ledger.models import JournalEntry, JournalTransaction
from ledger.money import Money
from ledger.posting import Posting, post_many
from ledger.recipes import psp_settlement_posting
from payments.selectors import settlement_candidates
from reconciliation.alerts import discrepancies_alert
from reconciliation.enums import DiscrepancyKind, DiscrepancyStatus, Resolution, SettlementFileStatus
from reconciliation.models import (
    Discrepancy,
    DiscrepancyResolution,
    InvalidSettlementLine,
    ReconciliationRun,
    RunTotal,
    SettlementFile,
    SettlementLine,
)
from reconciliation.services.corrections import LineKey, carry_over, settlement_id, superseded_ids
from reconciliation.services.resolutions import written_off_arrivals_undo

logger = structlog.get_logger(__name__)

_PAGE = 5000
# How far ahead of ours a provider's clock may run before the payment side could miss one of its movements (its
# window is by the provider's time; it reads what was posted since the window opened, less this). Skews over
# LEDGER_CLOCK_SKEW_FLAG_SECONDS are flagged on the posting; the sandbox's clock is run days ahead in tests.
_CLOCK_SKEW = timedelta(days=7)
_CLASSIFIED = "recon_classified"
# The attempt a line settles: what classification reads of it.
_ATTEMPT = ("id", "payment_id", "fee", "payment_currency", "payment_status", "payment_method", "refund_id")
# The attempt's operation a settlement line (``f``) settles: a refund line a refund, every other one the authorization.
_OPERATION = "CASE WHEN f.type = 'refund' THEN 'refund' ELSE 'authorize' END"
K = DiscrepancyKind


@dataclass(frozen=True)
class _Sql:
    sql: str
    params: tuple[Any, ...]


def _compiled(queryset: QuerySet[Any]) -> _Sql:
    sql, params = queryset.order_by().query.sql_with_params()  # no ORDER BY: it only costs a sort in a join
    return _Sql(sql, tuple(params))


def _provider_time(prefix: str = "") -> Any:
    """When the provider says the movement happened (kept in the metadata when it differs from our clock's
    ``occurred_at``), else ``occurred_at``: settlement files are cut by the provider's day, so the windows of the
    payment side must be too."""
    return Coalesce(Cast(KT(f"{prefix}metadata__provider_occurred_at"), DateTimeField()), F(f"{prefix}occurred_at"))


def _captures(connector: str) -> QuerySet[Any]:
    """Our ledger's captures for one connector: what the provider owes us, per payment."""
    return (
        references.captures()
        .filter(metadata__connector=connector)
        .values(
            provider_at=_provider_time(),
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


def _receivable_credits(connector: str, source_type: str) -> QuerySet[Any]:
    """What our ledger's refunds (or opened disputes) took off this connector's receivable, one row per transaction:
    the amount a settlement line of theirs must net, with the refund id (dispute id) and the provider's reference.
    Credits only, so a failed refund or a won dispute (reversals, debits) does not add a row."""
    return JournalEntry.objects.filter(
        transaction__source_type=source_type,
        transaction__metadata__connector=connector,
        direction=Direction.CREDIT,
        account__code__startswith=f"platform:psp:{connector}:",
        account__code__endswith=":receivable",
    ).values(
        "currency",
        "amount",
        source_id=F("transaction__source_id"),
        occurred_at=Coalesce(
            Cast(KeyTextTransform("provider_occurred_at", "transaction__metadata"), DateTimeField()),
            F("transaction__occurred_at"),
        ),
        provider_reference=KeyTextTransform("provider_reference", "transaction__metadata"),
        payment_id=KeyTextTransform("payment_id", "transaction__metadata"),
    )


def _disputes_won(connector: str) -> QuerySet[Any]:
    """What our ledger gave back to this connector's receivable for each won dispute (the reversal of the opened
    chargeback debits it), by dispute id: a chargeback reversal line must match it."""
    return JournalEntry.objects.filter(
        transaction__source_type="dispute",
        direction=Direction.DEBIT,
        account__code__startswith=f"platform:psp:{connector}:",
        account__code__endswith=":receivable",
    ).values(
        "currency",
        "amount",
        source_id=F("transaction__source_id"),
        occurred_at=Coalesce(
            Cast(KeyTextTransform("provider_occurred_at", "transaction__metadata"), DateTimeField()),
            F("transaction__occurred_at"),
        ),
    )


def _fallback_joins(candidates: _Sql) -> tuple[str, tuple[Any, ...]]:
    """The joins finding a line's attempt by our reference (``co``), then by the UPI RRN (``cr``), for a line the
    provider's reference (``cp``) did not find. On PostgreSQL each is a subquery run per line, skipped at once when
    ``cp`` found it and otherwise one index lookup: as joins, each would hash every attempt of the connector for the
    few lines that need it. SQLite has no LATERAL; there they are joins.

    An RRN is the payment's, so a payment tried more than once (a first attempt declined, a second one paid) has
    several authorizations with it: the line takes one, the one that succeeded, else the latest. Joined to all of
    them, the line was classified once per attempt (a one-line file counted two lines, and a fee mismatch against
    the declined attempt)."""
    our = "f.type IN ('charge', 'refund') AND f.our_reference <> ''"
    rrn_order = "CASE WHEN a.outcome = 'succeeded' THEN 0 ELSE 1 END, a.id DESC"
    if connection.vendor != "postgresql":
        sql = f"""
            LEFT JOIN cand co ON cp.id IS NULL AND {our} AND co.id = f.our_reference AND co.operation = {_OPERATION}
            LEFT JOIN cand cr ON cp.id IS NULL AND co.id IS NULL AND f.type = 'charge' AND f.rrn <> ''
                AND cr.id = (
                    SELECT a.id FROM cand a WHERE a.upi_rrn = f.rrn AND a.operation = 'authorize'
                    ORDER BY {rrn_order} LIMIT 1
                )
        """  # noqa: S608 - our names and enum values only
        return sql, ()
    attempt = ", ".join(f"a.{c}" for c in _ATTEMPT)
    # OFFSET 0 keeps each a subquery run per line: flattened, the planner would make it a hash join again.
    sql = f"""
            LEFT JOIN LATERAL (
                SELECT {attempt} FROM ({candidates.sql}) a
                WHERE cp.id IS NULL AND {our} AND a.id = f.our_reference AND a.operation = {_OPERATION}
                OFFSET 0
            ) co ON TRUE
            LEFT JOIN LATERAL (
                SELECT x.* FROM (
                    SELECT {attempt} FROM ({candidates.sql}) a
                    WHERE a.upi_rrn <> '' AND a.upi_rrn = f.rrn AND a.operation = 'authorize'
                    ORDER BY {rrn_order} LIMIT 1
                ) x
                -- Outside the LIMIT, so it stays a one-time filter over the ordering, not one under it.
                WHERE cp.id IS NULL AND co.id IS NULL AND f.type = 'charge' AND f.rrn <> ''
                OFFSET 0
            ) cr ON TRUE
    """  # noqa: S608 - the selector's compiled SQL; every value is a parameter
    return sql, (*candidates.params, *candidates.params)


def _classify(settlement_file: SettlementFile, *, for_posting: bool) -> None:
    connector = settlement_file.connector
    candidates = _compiled(settlement_candidates(connector=connector))
    captures = _compiled(_captures(connector))
    others = _compiled(_other_postings(connector))
    refunds = _compiled(_receivable_credits(connector, "refund"))
    chargebacks = _compiled(_receivable_credits(connector, "dispute"))
    won = _compiled(_disputes_won(connector))
    lines = SettlementLine._meta.db_table
    files = SettlementFile._meta.db_table
    # Through a transaction pooler the table must not outlive the transaction: the next one may run on another
    # server session, and this one's session goes to another client (settlement_file_reconcile).
    on_commit = "ON COMMIT DROP" if _pooled() else ""
    chosen = ", ".join(f"COALESCE(cp.{c}, co.{c}, cr.{c}) AS c_{c}" for c in _ATTEMPT)
    fallback, fallback_params = _fallback_joins(candidates)
    sql = f"""
        CREATE TEMP TABLE {_CLASSIFIED} {on_commit} AS
        WITH cand AS ({candidates.sql}),
        cap AS ({captures.sql}),
        oth AS ({others.sql}),
        refl AS ({refunds.sql}),
        cbk AS ({chargebacks.sql}),
        wonr AS ({won.sql}),
        -- A duplicate: an earlier line with the same key, in this file or in an earlier live one. One index-only
        -- probe a line finds both (settlement_line_key), with no grouping of the whole file.
        f AS (
            SELECT s.id, s.file_id, s.line_number, s.type, s.provider_reference, s.our_reference, s.rrn,
                   s.currency, s.gross, s.fee, s.net, s.transaction_date,
                   CASE WHEN EXISTS (
                       SELECT 1 FROM {lines} o
                       WHERE o.connector = s.connector AND o.provider_reference = s.provider_reference
                         AND o.type = s.type AND (o.file_id, o.line_number) < (s.file_id, s.line_number)
                         AND (o.file_id = s.file_id OR NOT EXISTS (
                             SELECT 1 FROM {files} of WHERE of.id = o.file_id AND of.superseded_by_id IS NOT NULL
                         ))
                   ) THEN 1 ELSE 0 END AS duplicate
            FROM {lines} s
            WHERE s.file_id = %s
        ),
        -- The provider's reference finds nearly every line's attempt, in one hash join; our reference and then the
        -- RRN are tried only for a line it did not find, by index (one lookup each), not by two more hash joins of
        -- every attempt. The chosen attempt's columns are carried along, so no join by its id follows.
        keyed AS (
            SELECT f.*, {chosen}
            FROM f
            LEFT JOIN cand cp ON cp.provider_reference = f.provider_reference
                AND cp.operation = {_OPERATION}
{fallback}        )
        SELECT k.id AS line_id, k.file_id, k.line_number, k.type, k.provider_reference, k.our_reference,
               k.currency, k.gross, k.fee, k.net, k.transaction_date,
               k.c_payment_id AS payment_id, k.c_fee AS our_fee, cap.gross AS ledger_gross,
               k.c_payment_currency AS payment_currency,
               -- what our ledger holds for the line, signed as a settlement line (a refund nets negative)
               CASE WHEN k.type = 'charge' THEN cap.gross
                    WHEN k.type = 'refund' THEN -refl.amount
                    WHEN k.type = 'chargeback' THEN -cbk.amount
                    WHEN k.type = 'chargeback_reversal' THEN wonr.amount END AS our_amount,
               CASE WHEN k.type = 'charge' THEN k.c_payment_currency
                    WHEN k.type = 'refund' THEN refl.currency
                    WHEN k.type = 'chargeback' THEN cbk.currency
                    WHEN k.type = 'chargeback_reversal' THEN wonr.currency END AS our_currency,
               -- the payment-side fact the line settles (see _unsettled_facts), so its timing clears
               CASE WHEN k.type = 'charge' THEN k.c_payment_id
                    WHEN k.type = 'refund' THEN 'refund:' || refl.source_id
                    WHEN k.type = 'chargeback' THEN 'chargeback:' || cbk.source_id
                    WHEN k.type = 'chargeback_reversal' THEN 'chargeback_reversal:' || wonr.source_id END AS fact_key,
               CASE
                   WHEN k.duplicate = 1 THEN '{K.DUPLICATE}'
                   WHEN k.type = 'charge' THEN CASE
                       WHEN k.c_id IS NULL THEN '{K.MISSING_IN_LEDGER}'
                       WHEN k.c_payment_status <> 'succeeded' AND k.c_payment_method = 'upi' THEN '{K.LATE_SUCCESS}'
                       WHEN k.c_payment_status <> 'succeeded' THEN '{K.STATUS_MISMATCH}'
                       WHEN cap.payment_id IS NULL THEN '{K.MISSING_IN_LEDGER}'
                       WHEN k.currency <> k.c_payment_currency THEN '{K.CURRENCY_MISMATCH}'
                       WHEN k.gross <> cap.gross THEN '{K.AMOUNT_MISMATCH}'
                       WHEN k.c_fee IS NOT NULL AND k.fee <> k.c_fee THEN '{K.FEE_MISMATCH}'
                   END
                   WHEN k.type = 'refund' AND k.c_id IS NOT NULL THEN CASE
                       WHEN refl.source_id IS NULL THEN '{K.MISSING_IN_LEDGER}'
                       WHEN k.currency <> refl.currency THEN '{K.CURRENCY_MISMATCH}'
                       WHEN -k.gross <> refl.amount THEN '{K.AMOUNT_MISMATCH}'
                       WHEN k.fee <> 0 THEN '{K.FEE_MISMATCH}'
                   END
                   WHEN k.type = 'chargeback' THEN CASE
                       WHEN cbk.source_id IS NULL THEN '{K.MISSING_IN_LEDGER}'
                       WHEN k.currency <> cbk.currency THEN '{K.CURRENCY_MISMATCH}'
                       WHEN -k.gross <> cbk.amount THEN '{K.AMOUNT_MISMATCH}'
                       WHEN k.fee <> 0 THEN '{K.FEE_MISMATCH}'
                   END
                   WHEN k.type = 'chargeback_reversal' THEN CASE
                       WHEN wonr.source_id IS NULL THEN '{K.MISSING_IN_LEDGER}'
                       WHEN k.currency <> wonr.currency THEN '{K.CURRENCY_MISMATCH}'
                       WHEN k.gross <> wonr.amount THEN '{K.AMOUNT_MISMATCH}'
                       WHEN k.fee <> 0 THEN '{K.FEE_MISMATCH}'
                   END
                   WHEN oth.provider_reference IS NOT NULL THEN NULL
                   WHEN k.type = 'refund' THEN '{K.REFUND_NETTING}'
                   ELSE '{K.MISSING_IN_LEDGER}'
               END AS kind
        FROM keyed k
        LEFT JOIN cap ON k.type = 'charge' AND cap.payment_id = k.c_payment_id
        LEFT JOIN refl ON k.type = 'refund' AND refl.source_id = COALESCE(k.c_refund_id, k.c_id)
        LEFT JOIN cbk ON k.type IN ('chargeback', 'chargeback_reversal')
            AND cbk.provider_reference = k.provider_reference
        LEFT JOIN wonr ON k.type = 'chargeback_reversal' AND wonr.source_id = cbk.source_id
        LEFT JOIN oth ON k.type IN ('refund', 'fee_adjustment') AND oth.provider_reference = k.provider_reference
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
        # Fresh statistics for the lines just loaded; without them the planner takes thousands for three. ANALYZE is
        # the table owner's, so on PostgreSQL the application's role asks its owner's function (migration 0009).
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reconciliation_lines_analyze()")
        else:
            cursor.execute(f"ANALYZE {lines}")
        cursor.execute(f"DROP TABLE IF EXISTS {_CLASSIFIED}")
        params = (
            *candidates.params,
            *captures.params,
            *others.params,
            *refunds.params,
            *chargebacks.params,
            *won.params,
        )
        cursor.execute(sql, (*params, settlement_file.pk, *fallback_params))
        if for_posting:  # the matched lines are read back in pages by line (_matched_lines); nothing else needs it
            cursor.execute(f"CREATE INDEX {_CLASSIFIED}_line ON {_CLASSIFIED} (line_id)")
        # No index on payment_id: the payment side's anti-join of every capture in the window against the classified
        # lines is one hash join; with the index it was a probe a capture (850,000 at 1M lines) after a 1 s build.
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
               COALESCE(our_currency, payment_currency, ''), gross, our_amount, fee, our_fee, '', %s, ''
        FROM {_CLASSIFIED} WHERE kind IS NOT NULL
        ON CONFLICT (connector, key) DO NOTHING
    """  # noqa: S608 - table names only
    # A line its format could not read: its own fact (the file and line), with why; nothing about it is known to post.
    invalid = f"""
        INSERT INTO {table} ({_DISCREPANCY_COLUMNS})
        SELECT '{K.INVALID_LINE}', %s,
               'line:' || CAST(file_id AS VARCHAR(20)) || ':' || CAST(line_number AS VARCHAR(20)), %s,
               file_id, line_number, '', '', '', '', '', NULL, NULL, NULL, NULL, reason, %s, ''
        FROM {InvalidSettlementLine._meta.db_table} WHERE file_id = %s
        ON CONFLICT (connector, key) DO NOTHING
    """  # noqa: S608 - table names and enum values only
    with connection.cursor() as cursor:
        cursor.execute(sql, (run.file.connector, run.pk, DiscrepancyStatus.OPEN))
        new = max(int(cursor.rowcount), 0)
        cursor.execute(invalid, (run.file.connector, run.pk, DiscrepancyStatus.OPEN, run.file_id))
        return new + max(int(cursor.rowcount), 0)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _unsettled_facts(connector: str, posted_since: datetime) -> _Sql:
    """Every fact of ours the provider must settle, not settled by a line of a current (not superseded) file:
    captures keyed by payment id, refunds by ``refund:<id>``, chargebacks by ``chargeback:<dispute id>`` and won
    disputes by ``chargeback_reversal:<dispute id>``, each with what it holds in the receivable, signed as its
    settlement line would be. Only facts posted since ``posted_since``: the window is on the provider's time, which
    no index serves, so this bound on our posting time (indexed) is what keeps a run from reading the whole journal."""
    captures = _compiled(_captures(connector).filter(posted_at__gte=posted_since))
    refunds = _compiled(_receivable_credits(connector, "refund").filter(posted_at__gte=posted_since))
    chargebacks = _compiled(_receivable_credits(connector, "dispute").filter(posted_at__gte=posted_since))
    opened = _compiled(_receivable_credits(connector, "dispute"))  # a won dispute's chargeback: opened at any time
    won = _compiled(_disputes_won(connector).filter(posted_at__gte=posted_since))
    candidates = _compiled(settlement_candidates(connector=connector))
    lines = SettlementLine._meta.db_table
    files = SettlementFile._meta.db_table
    settled = f"""
        SELECT 1 FROM {lines} s JOIN {files} sf ON sf.id = s.file_id
        WHERE s.connector = %s AND sf.superseded_by_id IS NULL AND s.type = %s AND s.provider_reference
    """  # noqa: S608 - table names only
    sql = f"""
        SELECT cap.payment_id AS key, cap.provider_at AS occurred_at,
               COALESCE(cap.provider_reference, '') AS provider_reference,
               cap.payment_id, '' AS currency, cap.gross AS amount
        FROM ({captures.sql}) cap
        WHERE NOT EXISTS ({settled} = cap.provider_reference)
          AND NOT EXISTS (SELECT 1 FROM {_CLASSIFIED} m WHERE m.payment_id = cap.payment_id AND m.type = 'charge')
        UNION ALL
        SELECT 'refund:' || r.source_id, r.occurred_at, COALESCE(r.provider_reference, ''), r.payment_id,
               r.currency, -r.amount
        FROM ({refunds.sql}) r
        -- Two NOT EXISTS with plain equalities, not one with an OR: each becomes a hash anti-join.
        WHERE NOT EXISTS ({settled} = r.provider_reference)
          AND NOT EXISTS (
              SELECT 1 FROM {lines} s JOIN {files} sf ON sf.id = s.file_id
              JOIN ({candidates.sql}) a ON a.provider_reference = s.provider_reference AND a.operation = 'refund'
              WHERE s.connector = %s AND sf.superseded_by_id IS NULL AND s.type = 'refund'
                AND COALESCE(a.refund_id, a.id) = r.source_id
          )
        UNION ALL
        SELECT 'chargeback:' || d.source_id, d.occurred_at, COALESCE(d.provider_reference, ''), d.payment_id,
               d.currency, -d.amount
        FROM ({chargebacks.sql}) d
        WHERE NOT EXISTS ({settled} = d.provider_reference)
        UNION ALL
        SELECT 'chargeback_reversal:' || w.source_id, w.occurred_at, COALESCE(o.provider_reference, ''), o.payment_id,
               w.currency, w.amount
        FROM ({won.sql}) w LEFT JOIN ({opened.sql}) o ON o.source_id = w.source_id
        WHERE NOT EXISTS ({settled} = o.provider_reference)
    """  # noqa: S608 - table names only
    params = (
        *captures.params,
        connector,
        "charge",
        *refunds.params,
        connector,
        "refund",
        *candidates.params,
        connector,
        *chargebacks.params,
        connector,
        "chargeback",
        *won.params,
        *opened.params,
        connector,
        "chargeback_reversal",
    )
    return _Sql(sql, params)


def _record_payment_side(run: ReconciliationRun) -> int:
    """What the provider should have settled by now but has not, in any file so far: captures, refunds, chargebacks.

    A movement on day T belongs in the file of T + lag. Absent from that file it is ``timing`` (it may come in a
    later batch, and clears itself when it does); still absent ``RECONCILIATION_MISSING_AFTER_DAYS`` later the same
    discrepancy becomes ``missing_at_provider``: one fact, one discrepancy, so it is never corrected twice (and one
    resolved while it was ``timing`` stays resolved). Only a window of recent days is looked at, so a run's cost does
    not grow with history. The lines of a superseded file do not count: the corrected file replaces them.
    """
    settlement_file = run.file
    lag = settings.RECONCILIATION_SETTLEMENT_LAG_DAYS
    delay = settings.RECONCILIATION_MISSING_AFTER_DAYS
    expected_day = _day_start(settlement_file.settlement_date - timedelta(days=lag))
    missing_until = expected_day - timedelta(days=delay - 1)
    lookback_from = missing_until - timedelta(days=settings.RECONCILIATION_LOOKBACK_DAYS)
    # A movement is posted when we learn of it, never before it happens: whatever the provider dates on or after
    # lookback_from was posted after it, less how far the provider's clock runs ahead of ours.
    facts = _unsettled_facts(settlement_file.connector, posted_since=lookback_from - _CLOCK_SKEW)
    table = Discrepancy._meta.db_table
    due = f"""
        FROM ({facts.sql}) fact
        WHERE (fact.occurred_at >= %s AND fact.occurred_at < %s) OR (fact.occurred_at >= %s AND fact.occurred_at < %s)
    """
    due_params = (*facts.params, expected_day, expected_day + timedelta(days=1), lookback_from, missing_until)
    escalate = f"""
        UPDATE {table} SET kind = '{K.MISSING_AT_PROVIDER}', run_id = %s, file_id = %s
        WHERE connector = %s AND kind = '{K.TIMING}' AND status = %s
          AND key IN (SELECT fact.key {due} AND fact.occurred_at < %s)
    """  # noqa: S608 - table names and enum values only
    insert = f"""
        INSERT INTO {table} ({_DISCREPANCY_COLUMNS})
        SELECT CASE WHEN fact.occurred_at >= %s THEN '{K.TIMING}' ELSE '{K.MISSING_AT_PROVIDER}' END,
               %s, fact.key, %s, %s, NULL, fact.provider_reference, '', COALESCE(fact.payment_id, ''), '',
               fact.currency, NULL, fact.amount, NULL, NULL, '', %s, ''
        {due}
        ON CONFLICT (connector, key) DO NOTHING
    """
    connector, file_id = settlement_file.connector, settlement_file.pk
    with connection.cursor() as cursor:
        cursor.execute(escalate, (run.pk, file_id, connector, DiscrepancyStatus.OPEN, *due_params, missing_until))
        escalated = max(int(cursor.rowcount), 0)
        cursor.execute(insert, (expected_day, connector, run.pk, file_id, DiscrepancyStatus.OPEN, *due_params))
        return escalated + max(int(cursor.rowcount), 0)


def _clear_arrived_timing(run: ReconciliationRun) -> int:
    """A payment-side discrepancy (``timing``, ``missing_at_provider``) whose line arrived in this file is closed,
    and the closing audited: matched, the difference is gone; arrived with a difference of its own (an amount, a
    fee), that line's discrepancy is the one open for the fact from now on, so it is not corrected twice."""
    arrived_sql = f"SELECT fact_key FROM {_CLASSIFIED} WHERE fact_key IS NOT NULL"  # noqa: S608 - fixed
    arrived = RawSQL(arrived_sql, ())  # noqa: S611 - fixed SQL, no input
    ids = list(
        Discrepancy.objects.filter(
            connector=run.file.connector,
            kind__in=(K.TIMING, K.MISSING_AT_PROVIDER),
            status=DiscrepancyStatus.OPEN,
            key__in=arrived,
        ).values_list("id", flat=True)
    )
    if not ids:
        return 0
    DiscrepancyResolution.objects.bulk_create(
        DiscrepancyResolution(
            discrepancy_id=pk,
            action=Resolution.AUTO_CLEARED,
            actor="reconciliation",
            reason=f"its charge arrived in {run.file} (run {run.pk})",
        )
        for pk in ids
    )
    return Discrepancy.objects.filter(id__in=ids).update(
        status=DiscrepancyStatus.RESOLVED, resolution=Resolution.AUTO_CLEARED
    )


def _follow_correction(run: ReconciliationRun) -> int:
    """Open discrepancies about lines of a file this one corrects follow the correction: one the corrected file still
    has takes its line, amounts and class; one it no longer has (or now matches) is closed, audited."""
    superseded = superseded_ids(run.file)
    if not superseded:
        return 0
    table = Discrepancy._meta.db_table
    placeholders = ", ".join(["%s"] * len(superseded))
    refresh = f"""
        UPDATE {table} SET kind = c.kind, run_id = %s, file_id = c.file_id, line_number = c.line_number,
               currency = c.currency, settlement_amount = c.gross, settlement_fee = c.fee, our_amount = c.our_amount
        FROM {_CLASSIFIED} c
        WHERE {table}.connector = %s AND {table}.status = %s AND {table}.file_id IN ({placeholders})
          AND c.kind IS NOT NULL AND c.kind <> '{K.DUPLICATE}' AND {table}.key = c.type || ':' || c.provider_reference
    """  # noqa: S608 - table names and enum values only
    with connection.cursor() as cursor:
        cursor.execute(refresh, (run.pk, run.file.connector, DiscrepancyStatus.OPEN, *superseded))
    stale = list(
        Discrepancy.objects.filter(
            connector=run.file.connector,
            status=DiscrepancyStatus.OPEN,
            file_id__in=superseded,
            line_number__isnull=False,
        ).values_list("id", flat=True)
    )
    DiscrepancyResolution.objects.bulk_create(
        DiscrepancyResolution(
            discrepancy_id=pk,
            action=Resolution.AUTO_CLEARED,
            actor="reconciliation",
            reason=f"its line is gone or settled in the corrected file {run.file} (run {run.pk})",
        )
        for pk in stale
    )
    return Discrepancy.objects.filter(id__in=stale).update(
        status=DiscrepancyStatus.RESOLVED, resolution=Resolution.AUTO_CLEARED
    )


def _pooled() -> bool:
    return "default" in getattr(settings, "DATABASE_POOLED", ())


def _matched_lines() -> Iterator[tuple[Any, ...]]:
    last = 0
    sql = f"""
        SELECT line_id, type, provider_reference, our_reference, currency, gross, fee, transaction_date
        FROM {_CLASSIFIED} WHERE kind IS NULL AND line_id > %s ORDER BY line_id LIMIT {_PAGE}
    """  # noqa: S608 - fixed names
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, (last,))
            rows = cursor.fetchall()
        yield from rows
        if len(rows) < _PAGE:
            return
        last = rows[-1][0]


def _matched_postings(
    settlement_file: SettlementFile, carried: dict[LineKey, str], lines: Iterable[tuple[Any, ...]]
) -> Iterator[Posting]:
    connector = settlement_file.connector
    corrected_file_id = settlement_file.pk if superseded_ids(settlement_file) else None
    for _line_id, line_type, reference, ours, currency, gross, fee, occurred_at in lines:
        if not gross and not fee:
            continue
        yield psp_settlement_posting(
            connector=connector,
            settlement_id=carried.get((line_type, reference))
            or settlement_id(line_type, reference, corrected_file_id=corrected_file_id),
            gross=Money(gross, currency),
            fee=Money(fee, currency),
            occurred_at=_aware(occurred_at),
            provider_reference=reference,
            our_reference=ours,
        )


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite hands back text from a temporary table
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _totals(run: ReconciliationRun) -> None:
    """Counts for the run, and its totals per currency; the ledger side is what the journal recorded."""
    sql = f"""
        SELECT currency, COUNT(*), COALESCE(SUM(gross), 0), COALESCE(SUM(fee), 0), COALESCE(SUM(net), 0),
               COALESCE(SUM(CASE WHEN kind IS NULL THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN kind IS NULL THEN gross ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN kind IS NULL THEN our_amount ELSE 0 END), 0)
        FROM {_CLASSIFIED} GROUP BY currency ORDER BY currency
    """  # noqa: S608 - fixed names
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    totals = [
        RunTotal(
            run=run,
            currency=currency,
            lines=lines,
            settlement_gross=gross,
            settlement_fee=fee,
            settlement_net=net,
            matched=matched,
            matched_gross=matched_gross,
            ledger_gross=ledger_gross,
        )
        for currency, lines, gross, fee, net, matched, matched_gross, ledger_gross in rows
    ]
    RunTotal.objects.bulk_create(totals)
    invalid = InvalidSettlementLine.objects.filter(file_id=run.file_id).count()
    run.lines = sum(total.lines for total in totals) + invalid
    run.matched = sum(total.matched for total in totals)
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
            _classify(settlement_file, for_posting=post)
            _totals(run)
            new = _record_line_discrepancies(run)
            new += _record_payment_side(run)
            _clear_arrived_timing(run)
            written_off_arrivals_undo(
                connector=settlement_file.connector,
                fact_keys=RawSQL(f"SELECT fact_key FROM {_CLASSIFIED} WHERE fact_key IS NOT NULL", ()),  # noqa: S608, S611 - fixed
                where=f"{settlement_file} (run {run.pk})",
            )
            _follow_correction(run)
            carried = carry_over(settlement_file) if post else {}
            # The postings commit in chunks of their own, after this transaction. Through a transaction pooler the
            # temporary table is gone by then (see _classify), so the matched lines are read now, whole: memory
            # grows with the file (about 0.5 kB a line) instead of staying flat.
            read_now = list(_matched_lines()) if post and _pooled() else None
        if post:
            lines = _matched_lines() if read_now is None else read_now
            result = post_many(_matched_postings(settlement_file, carried, lines))
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
