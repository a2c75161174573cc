"""A run's report: its totals per currency, whether the day is clean, then every exception of the connector-day.

The exceptions are the day's, not only those this run created: a re-run after resolutions lists what is still open
(and what was resolved, with how), and a day with nothing open reads ``clean``. CSV amounts are integers of minor
units; XLSX shows them in the currency's units, as numbers with the currency's decimals.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from core.currencies import currency_exponent, is_currency
from reconciliation.enums import DiscrepancyStatus
from reconciliation.models import Discrepancy, ReconciliationRun

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
    "our_currency",
    "our_amount",
    "settlement_fee",
    "our_fee",
    "created",
)
TOTAL_COLUMNS = (
    "currency",
    "lines",
    "matched",
    "settlement_gross",
    "settlement_fee",
    "settlement_net",
    "matched_gross",
    "ledger_gross",
)
# Which column's currency each amount column is in (for showing it in units in XLSX).
_AMOUNT_CURRENCY = {
    "settlement_amount": "currency",
    "settlement_fee": "currency",
    "our_amount": "our_currency",
    "our_fee": "our_currency",
    **dict.fromkeys(TOTAL_COLUMNS[3:], "currency"),
}


def day_discrepancies(run: ReconciliationRun) -> Any:
    """Every discrepancy of the run's connector-day (whichever run found it), the open ones first."""
    return Discrepancy.objects.filter(
        connector=run.file.connector, file__settlement_date=run.file.settlement_date
    ).order_by("-status", "kind", "id")  # "open" sorts after "resolved": descending puts it first


def report_sections(run: ReconciliationRun) -> Iterator[tuple[tuple[str, ...] | None, list[Any]]]:
    """Rows of the report, each with the column names it is laid out by (``None``: a free-form summary row)."""
    settlement_file = run.file
    yield (
        None,
        [
            "run",
            run.pk,
            "connector",
            settlement_file.connector,
            "settlement_date",
            str(settlement_file.settlement_date),
        ],
    )
    yield (
        None,
        ["file_sha256", settlement_file.sha256, "status", settlement_file.status, "duration_ms", run.duration_ms],
    )
    yield None, ["lines", run.lines, "matched", run.matched, "unmatched", run.unmatched, "posted", run.posted]
    yield None, list(TOTAL_COLUMNS)
    for total in run.totals.order_by("currency").values_list(*TOTAL_COLUMNS):
        yield TOTAL_COLUMNS, list(total)
    discrepancies = day_discrepancies(run)
    still_open = discrepancies.filter(status=DiscrepancyStatus.OPEN).count()
    yield None, ["day", "clean" if not still_open else "open", "open_discrepancies", still_open]
    yield None, []
    yield None, list(EXCEPTION_COLUMNS)
    for row in discrepancies.values_list(*EXCEPTION_COLUMNS).iterator(chunk_size=2000):
        yield EXCEPTION_COLUMNS, [value.isoformat() if hasattr(value, "isoformat") else value for value in row]


def report_rows(run: ReconciliationRun) -> Iterator[list[Any]]:
    for _, row in report_sections(run):
        yield row


class _Echo:
    def write(self, value: str) -> str:
        return value


def report_csv(run: ReconciliationRun) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in report_rows(run):
        yield writer.writerow(row)


def _in_units(amount: int, currency: str) -> tuple[Decimal, str]:
    exponent = currency_exponent(currency)
    return Decimal(amount).scaleb(-exponent), "0" if exponent == 0 else "0." + "0" * exponent


def _xlsx_row(sheet: WriteOnlyWorksheet, columns: tuple[str, ...] | None, row: list[Any]) -> list[Any]:
    if columns is None:
        return row
    values = dict(zip(columns, row, strict=True))
    cells: list[Any] = []
    for name, value in values.items():
        currency = str(values.get(_AMOUNT_CURRENCY.get(name, ""), "") or "").lower()
        if isinstance(value, int) and name in _AMOUNT_CURRENCY and is_currency(currency):
            number, number_format = _in_units(value, currency)
            # A Decimal, not a float: written as the exact number (the stubs list only float).
            cell = WriteOnlyCell(sheet, value=number)  # type: ignore[arg-type]
            cell.number_format = number_format
            cells.append(cell)
        else:
            cells.append(value)
    return cells


def report_xlsx(run: ReconciliationRun) -> IO[bytes]:
    """The report as an XLSX file (write-only mode: rows go to disk as they come, memory stays flat)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(f"run {run.pk}")
    for columns, row in report_sections(run):
        sheet.append(_xlsx_row(sheet, columns, row))
    output = tempfile.TemporaryFile()  # noqa: SIM115 - returned open: the response streams and closes it
    workbook.save(output)
    output.seek(0)
    return output
