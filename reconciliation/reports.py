"""A run's report: the matched totals, then every exception found by it. CSV streamed, XLSX written row by row."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from openpyxl import Workbook

from reconciliation.models import ReconciliationRun

EXCEPTION_COLUMNS = (
    "kind",
    "status",
    "resolution",
    "connector",
    "provider_reference",
    "our_reference",
    "payment_id",
    "line_number",
    "currency",
    "settlement_amount",
    "our_amount",
    "settlement_fee",
    "our_fee",
    "created",
)


def report_rows(run: ReconciliationRun) -> Iterator[list[Any]]:
    settlement_file = run.file
    yield [
        "run",
        run.pk,
        "connector",
        settlement_file.connector,
        "settlement_date",
        str(settlement_file.settlement_date),
    ]
    yield ["file_sha256", settlement_file.sha256, "duration_ms", run.duration_ms]
    yield ["lines", run.lines, "matched", run.matched, "unmatched", run.unmatched, "posted", run.posted]
    yield [
        "settlement_gross",
        run.settlement_gross,
        "settlement_fee",
        run.settlement_fee,
        "settlement_net",
        run.settlement_net,
    ]
    yield ["matched_gross", run.matched_gross, "ledger_gross", run.ledger_gross]
    yield []
    yield list(EXCEPTION_COLUMNS)
    for row in run.discrepancies.order_by("kind", "id").values_list(*EXCEPTION_COLUMNS).iterator(chunk_size=2000):
        yield [value.isoformat() if hasattr(value, "isoformat") else value for value in row]


class _Echo:
    def write(self, value: str) -> str:
        return value


def report_csv(run: ReconciliationRun) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in report_rows(run):
        yield writer.writerow(row)


def report_xlsx(run: ReconciliationRun) -> IO[bytes]:
    """The report as an XLSX file (write-only mode: rows go to disk as they come, memory stays flat)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(f"run {run.pk}")
    for row in report_rows(run):
        sheet.append(row)
    output = tempfile.TemporaryFile()  # noqa: SIM115 - returned open: the response streams and closes it
    workbook.save(output)
    output.seek(0)
    return output
