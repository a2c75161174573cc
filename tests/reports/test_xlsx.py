"""The XLSX opens with typed cells: amounts are numbers with the currency's decimal places, times are dates."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import load_workbook

from ledger.money import Money
from reports.writers import xlsx_write


def test_xlsx_cells_are_typed_per_currency():
    created = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    rows = [
        ["pay_1", created, date(2026, 11, 28), Money(1250, "usd"), 3],
        ["pay_2", created, date(2026, 11, 28), Money(1250, "jpy"), 1],
        ["pay_3", created, None, Money(-1250, "kwd"), 0],
    ]
    output = io.BytesIO()
    assert xlsx_write("payments", ["id", "created", "available_on", "amount", "attempts"], rows, output) == 3
    sheet = load_workbook(io.BytesIO(output.getvalue())).active
    header, usd, jpy, kwd = list(sheet.iter_rows())
    assert [c.value for c in header] == ["id", "created", "available_on", "amount", "attempts"]
    assert usd[1].is_date
    # Spreadsheets have no time zones: the UTC wall time, as a date cell.
    assert usd[1].value == created.replace(tzinfo=None)
    assert usd[2].is_date
    assert usd[2].value.date() == date(2026, 11, 28)
    assert (usd[3].data_type, Decimal(str(usd[3].value)), usd[3].number_format) == ("n", Decimal("12.5"), "#,##0.00")
    assert (jpy[3].value, jpy[3].number_format) == (1250, "#,##0")
    assert (Decimal(str(kwd[3].value)), kwd[3].number_format) == (Decimal("-1.25"), "#,##0.000")
    assert usd[4].data_type == "n"
    assert kwd[2].value is None
