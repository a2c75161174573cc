from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.verification import verify_ledger


def _anchor(value: str) -> tuple[int, str]:
    seal_id, _, chain = value.partition(":")
    if not seal_id.isdigit() or len(chain) != 64:
        raise CommandError("--anchor takes <seal id>:<chain>, as the sealer logs them (ledger_sealed)")
    return int(seal_id), chain


class Command(BaseCommand):
    help = (
        "Recompute every account from its entries, check the business invariants and the tamper-evident chain; "
        "exit non-zero listing each violation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=100, help="violations listed per check")
        parser.add_argument(
            "--anchor",
            help="<seal id>:<chain> of a head the sealer logged (a copy kept outside the database) to compare",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        anchor = _anchor(options["anchor"]) if options.get("anchor") else None
        report = verify_ledger(limit=options["limit"], anchor=anchor)
        for violation in report.violations:
            self.stderr.write(str(violation))
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
