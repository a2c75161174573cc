"""The auditor: runs every check and returns one report. ``manage.py audit``, the tests and the chaos run call
:func:`audit_run`.

It reads the database directly (never through the services it checks), the API over HTTP (balances), and the
provider's own record of what it did (the sandbox's ``/_control/records``), which no code of ours writes.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from django.utils import timezone

from audit import books, events, obligations, provider
from audit.findings import AuditReport


def audit_run(
    *,
    sandbox_url: str | None,
    api: httpx.Client | None = None,
    api_keys: dict[str, str] | None = None,
    grace_seconds: float = 60.0,
    limit: int = 100,
) -> AuditReport:
    """Every check; ``sandbox_url`` None skips the provider's side (a deployment on real providers). ``api`` is a
    client whose base URL is the platform's (``api_keys``: merchant id -> secret key to ask ``GET /v1/balance``
    with). Outbox rows, events and deliveries younger than ``grace_seconds`` count as in flight."""
    report = AuditReport()
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    if sandbox_url:
        try:
            records = provider.provider_records_fetch(sandbox_url)
        except httpx.HTTPError as exc:
            report.add("provider_records_unavailable", sandbox_url, f"GET /_control/records failed: {exc}")
        else:
            provider.provider_agreement_check(report, records)
    else:
        report.notes.append("no provider records: the provider's side was not checked")
    books.ledger_verification_check(report, limit=limit)
    books.balances_check(report, api=api, api_keys=api_keys or {})
    events.state_change_events_check(report, cutoff=cutoff)
    events.outbox_published_check(report, cutoff=cutoff)
    events.deliveries_check(report, cutoff=cutoff)
    obligations.attempts_in_doubt_check(report)
    obligations.late_successes_check(report)
    obligations.idempotency_check(report)
    obligations.settlement_lines_check(report)
    return report
