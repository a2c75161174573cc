"""Running a report in-process and reading it back as a finance person's spreadsheet would."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from core.currencies import currency_exponent
from reports.builders import ReportScope, report_builder
from reports.writers import csv_write


def today() -> date:
    return timezone.now().date()


def scope(merchant_id: str | None, *, days_back: int = 1, to: date | None = None) -> ReportScope:
    end = to or today()
    return ReportScope(merchant_id=merchant_id, date_from=end - timedelta(days=days_back), date_to=end)


def csv_report(report_type: str, report_scope: ReportScope) -> tuple[bytes, list[dict[str, str]]]:
    builder = report_builder(report_type)
    output = io.BytesIO()
    csv_write(builder.columns, builder.rows(report_scope), output)
    raw = output.getvalue()
    text = raw.decode("utf-8-sig")
    return raw, list(csv.DictReader(io.StringIO(text, newline="")))


def minor(text: str, currency: str) -> int:
    """``"12.50"`` USD back to 1250, exactly."""
    return int(Decimal(text).scaleb(currency_exponent(currency)))


def column_total(rows: list[dict[str, str]], column: str) -> int:
    return sum(minor(r[column], r["currency"]) for r in rows if r[column] != "")
