from __future__ import annotations

from argparse import ArgumentParser
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.errors import LedgerlineError
from reconciliation.enums import SettlementFileSource
from reconciliation.services.runs import reconcile_day


class Command(BaseCommand):
    help = "Import and reconcile one connector's settlement file of one day (fetched from the provider unless --file)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--connector", required=True)
        parser.add_argument("--date", required=True, type=date.fromisoformat, help="settlement date, YYYY-MM-DD")
        parser.add_argument("--file", type=Path, help="a settlement file on disk instead of fetching it")

    def handle(self, *args: Any, connector: str, date: date, file: Path | None, **options: Any) -> None:
        try:
            if file is None:
                run = reconcile_day(connector=connector, settlement_date=date)
            else:
                with file.open("rb") as source:
                    run = reconcile_day(
                        connector=connector,
                        settlement_date=date,
                        source=source,
                        source_kind=SettlementFileSource.COMMAND,
                    )
        except LedgerlineError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"run {run.pk}: {run.lines} lines, {run.matched} matched, {run.unmatched} unmatched, "
            f"{run.new_discrepancies} new discrepancies, {run.posted} settlements posted, {run.duration_ms} ms"
        )
