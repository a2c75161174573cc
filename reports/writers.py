"""Writing a report's rows: CSV streamed in constant memory, XLSX written row by row with typed cells.

A row holds plain values: ``Money`` for amounts (minor units + currency), ``datetime``/``date`` for times, ``int``,
``str``, ``bool`` or ``None``. The writers turn them into what a spreadsheet expects:

* CSV opens cleanly in Excel: a UTF-8 byte order mark (else Excel guesses the locale's code page), CRLF line ends,
  amounts in the currency's own units with its decimal places (``12.50`` USD, ``1250`` JPY, ``1.250`` KWD: exact,
  from integers, never a float), times as ``YYYY-MM-DD HH:MM:SS`` in UTC (Excel parses that, not ISO's ``T…Z``).
* XLSX cells are typed: amounts are numbers formatted with the currency's decimal places, times are dates.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from core.amounts import amount_plain
from core.currencies import currency_exponent
from ledger.money import Money

BOM = "\ufeff"
DATETIME_TEXT = "%Y-%m-%d %H:%M:%S"


def _utc_naive(value: datetime) -> datetime:
    # Spreadsheets have no time zones: every time in a report is UTC, said once in the column definitions.
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def csv_value(value: Any) -> Any:
    if isinstance(value, Money):
        return amount_plain(value.amount, value.currency)
    if isinstance(value, datetime):
        return _utc_naive(value).strftime(DATETIME_TEXT)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The report as CSV text, one line at a time (a generator: nothing accumulates, whatever the row count)."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield BOM + writer.writerow(columns)
    for row in rows:
        yield writer.writerow([csv_value(v) for v in row])


def csv_write(columns: Sequence[str], rows: Iterable[Sequence[Any]], output: IO[bytes]) -> int:
    """Writes the CSV to a binary file; returns the number of data rows."""
    count = -1
    for count, line in enumerate(csv_lines(columns, rows)):  # noqa: B007 - the last index is the count
        output.write(line.encode())
    return max(count, 0)


def _number_format(currency: str) -> str:
    try:
        exponent = currency_exponent(currency)
    except KeyError:
        exponent = 0
    return "#,##0" + ("." + "0" * exponent if exponent else "")


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: Any) -> Any:
    if isinstance(value, Money):
        try:
            exponent = currency_exponent(value.currency)
        except KeyError:
            exponent = 0
        number: Any = Decimal(value.amount).scaleb(-exponent)  # openpyxl writes a Decimal as a number, exactly
        cell = WriteOnlyCell(sheet, value=number)
        cell.number_format = _number_format(value.currency)
        return cell
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=_utc_naive(value))
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, date):
        day: Any = value  # openpyxl's stubs omit date, which it writes as a date serial
        cell = WriteOnlyCell(sheet, value=day)
        cell.number_format = "yyyy-mm-dd"
        return cell
    return value


def xlsx_write(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], output: IO[bytes]) -> int:
    """Writes the XLSX (write-only mode: rows go to a temporary file as they come, memory stays flat)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append(list(columns))
    count = 0
    for row in rows:
        sheet.append([_xlsx_cell(sheet, v) for v in row])
        count += 1
    workbook.save(output)
    return count
