"""Asking for a report, and producing it (in a Celery worker, never in a request)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import structlog
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from payments.models import Merchant
from payments.services.outbox import outbox_command_add
from reports.builders import ReportScope, report_builder
from reports.enums import ReportFormat, ReportStatus, ReportType
from reports.exceptions import ReportParameterError
from reports.models import ReportRun
from reports.writers import csv_write, xlsx_write

logger = structlog.get_logger(__name__)

GENERATE_TASK = "reports.generate"
# A year of one merchant's data is the most one request may ask for; the back office may ask for more.
MAX_MERCHANT_DAYS = 366
# Progress is written to the run's row at most this often (rows), so a large report is not slowed by its own meter.
PROGRESS_EVERY = 5000


def report_run_create(
    *,
    report_type: str,
    report_format: str,
    date_from: date,
    date_to: date,
    merchant: Merchant | None,
    livemode: bool | None,
    requested_by: str,
    user_id: int | None = None,
) -> ReportRun:
    """Records the run (``pending``) and, in the same transaction, the outbox command that produces it."""
    if report_type not in ReportType.values:
        raise ReportParameterError(f"Unknown report type: '{report_type[:40]}'.", param="type")
    if report_format not in ReportFormat.values:
        raise ReportParameterError("format must be csv or xlsx.", param="format")
    if date_from > date_to:
        raise ReportParameterError("'from' must not be after 'to'.", param="from")
    if merchant is not None and (date_to - date_from) > timedelta(days=MAX_MERCHANT_DAYS):
        raise ReportParameterError(f"A report covers at most {MAX_MERCHANT_DAYS} days.", param="to")
    with transaction.atomic():
        run = ReportRun.objects.create(
            merchant=merchant,
            livemode=livemode,
            type=report_type,
            format=report_format,
            date_from=date_from,
            date_to=date_to,
            requested_by=requested_by[:150],
            requested_by_user_id=user_id,
        )
        outbox_command_add(
            task_name=GENERATE_TASK,
            kwargs={"report_id": run.id},
            merchant_id=run.merchant_id,
            livemode=bool(livemode),
            aggregate_type="report",
            aggregate_id=run.id,
        )
    return run


def report_scope(run: ReportRun) -> ReportScope:
    return ReportScope(merchant_id=run.merchant_id, date_from=run.date_from, date_to=run.date_to, livemode=run.livemode)


def _metered(rows: Iterator[list[Any]], *, total: int, report: Callable[[int], None]) -> Iterator[list[Any]]:
    for done, row in enumerate(rows, start=1):
        yield row
        if done % PROGRESS_EVERY == 0:
            report(min(99, done * 100 // max(total, 1)))


def report_write(run: ReportRun, output: Any, *, on_progress: Callable[[int], None] | None = None) -> int:
    """Writes the run's report to a binary file; ``on_progress`` hears the percentage done now and then."""
    builder = report_builder(run.type)
    scope = report_scope(run)
    rows: Iterator[list[Any]] = builder.rows(scope)
    if on_progress is not None:
        rows = _metered(rows, total=builder.count(scope), report=on_progress)
    if run.format == ReportFormat.XLSX:
        return xlsx_write(builder.title, builder.columns, rows, output)
    return csv_write(builder.columns, rows, output)


def _progress_save(report_id: str, percent: int) -> None:
    # Outside any transaction: the API and the admin see it while the report is still being written.
    ReportRun.objects.filter(pk=report_id, status=ReportStatus.RUNNING).update(progress=percent)


def report_run_execute(*, report_id: str) -> str:
    """Produces the report file. Safe to run twice (at-least-once delivery): only a pending run starts."""
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().filter(pk=report_id).first()
        if run is None or run.status != ReportStatus.PENDING:
            return "skipped"
        run.start()
        run.started_at = timezone.now()
        run.save(update_fields=["status", "progress", "started_at"])
    try:
        with tempfile.TemporaryFile() as output:
            rows = report_write(run, output, on_progress=lambda percent: _progress_save(report_id, percent))
            output.seek(0)
            with transaction.atomic():
                run = ReportRun.objects.select_for_update().get(pk=report_id)
                run.file.save(run.filename, File(output), save=False)
                run.succeed(rows=rows)
                run.finished_at = timezone.now()
                run.save(update_fields=["status", "progress", "rows", "file", "finished_at"])
    except Exception as exc:
        logger.exception("report_failed", report_id=report_id)
        with transaction.atomic():
            run = ReportRun.objects.select_for_update().get(pk=report_id)
            if run.status in (ReportStatus.PENDING, ReportStatus.RUNNING):
                run.fail(message=f"{type(exc).__name__}: {exc}")
                run.finished_at = timezone.now()
                run.save(update_fields=["status", "failure_message", "finished_at"])
        return "failed"
    logger.info("report_succeeded", report_id=report_id, type=run.type, rows=rows)
    return "succeeded"
