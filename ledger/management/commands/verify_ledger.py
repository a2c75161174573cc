from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.verification import verify_ledger


class Command(BaseCommand):
    help = "Recompute every account from its entries; exit non-zero listing each violation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=100, help="violations listed per check")

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_ledger(limit=options["limit"])
        for violation in report.violations:
            self.stderr.write(str(violation))
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
