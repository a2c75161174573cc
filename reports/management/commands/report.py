"""``manage.py report TYPE --from D --to D [--format csv|xlsx] [--merchant mch_…] [--output PATH]``

Writes a report from a shell, with a progress bar; the same builders and writers as the API and the back office.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from reports.builders import REPORTS, ReportScope, report_builder
from reports.enums import ReportFormat
from reports.writers import csv_write, xlsx_write


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = "Write a report (CSV or XLSX) for one merchant or all, over a date range, with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("type", choices=sorted(REPORTS))
        parser.add_argument("--from", dest="date_from", required=True, type=_date)
        parser.add_argument("--to", dest="date_to", required=True, type=_date)
        parser.add_argument("--format", choices=ReportFormat.values, default=ReportFormat.CSV)
        parser.add_argument("--merchant", default=None, help="a merchant id; every merchant when left out")
        parser.add_argument("--output", default=None, help="file to write (default: TYPE_FROM_TO.FORMAT here)")

    def handle(self, *args: Any, **options: Any) -> None:
        report_type: str = options["type"]
        date_from, date_to = options["date_from"], options["date_to"]
        if date_from > date_to:
            raise CommandError("--from must not be after --to")
        scope = ReportScope(merchant_id=options["merchant"], date_from=date_from, date_to=date_to)
        builder = report_builder(report_type)
        fmt = options["format"]
        output = Path(options["output"] or f"{report_type}_{options['merchant'] or 'all'}_{date_from}_{date_to}.{fmt}")
        total = builder.count(scope)
        with (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                disable=options["verbosity"] == 0,
            ) as progress,
            output.open("wb") as file,
        ):
            task = progress.add_task(report_type, total=total)

            def metered() -> Any:
                for row in builder.rows(scope):
                    yield row
                    progress.advance(task)

            writer = xlsx_write if fmt == ReportFormat.XLSX else None
            rows = (
                writer(builder.title, builder.columns, metered(), file)
                if writer
                else csv_write(builder.columns, metered(), file)
            )
        self.stdout.write(f"{rows} rows written to {output}")
