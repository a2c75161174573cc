from __future__ import annotations

import json
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.auditor import audit_run


class Command(BaseCommand):
    help = (
        "Audit the platform against the provider's own records, the ledger and the API: exit 0 when clean, "
        "1 listing every finding."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--sandbox-url",
            default=settings.SANDBOX_URL,
            help="the PSP sandbox whose /_control/records is the provider's truth ('' to skip)",
        )
        parser.add_argument("--api-url", help="the platform's base URL, to ask GET /v1/balance over HTTP")
        parser.add_argument(
            "--api-key",
            action="append",
            default=[],
            metavar="MERCHANT_ID=SECRET",
            help="a merchant's secret key for the balance check (repeatable)",
        )
        parser.add_argument("--grace", type=float, default=60.0, help="seconds during which work counts as in flight")
        parser.add_argument("--limit", type=int, default=100, help="ledger violations listed per check")

    def handle(self, *args: Any, **options: Any) -> None:
        keys: dict[str, str] = {}
        for pair in options["api_key"]:
            merchant_id, sep, secret = pair.partition("=")
            if not sep or not secret:
                raise CommandError("--api-key takes MERCHANT_ID=SECRET")
            keys[merchant_id] = secret
        api = httpx.Client(base_url=options["api_url"], timeout=30) if options["api_url"] else None
        try:
            report = audit_run(
                sandbox_url=options["sandbox_url"] or None,
                api=api,
                api_keys=keys,
                grace_seconds=options["grace"],
                limit=options["limit"],
            )
        finally:
            if api is not None:
                api.close()
        self.stdout.write(json.dumps(report.as_dict(), indent=2) if options["json"] else report.render())
        if not report.ok:
            raise SystemExit(1)
