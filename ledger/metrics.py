"""The ledger's figures for Prometheus: the outcome of the last verification, kept in the cache (Redis in
production) by the task that ran it, so whichever process Prometheus scrapes reports the same."""

from __future__ import annotations

import time
from collections.abc import Iterator

from django.core.cache import cache
from prometheus_client.core import Metric

from core.metrics import gauge, scrape_collector_register

_LAST_VERIFICATION_KEY = "ledgerline:ledger:last_verification"


def verification_record(*, violations: int) -> None:
    cache.set(_LAST_VERIFICATION_KEY, {"violations": violations, "at": time.time()}, timeout=None)


def _collect() -> Iterator[Metric]:
    last = cache.get(_LAST_VERIFICATION_KEY)
    if not last:
        return
    yield gauge(
        "ledgerline_ledger_verification_violations",
        "Violations the last ledger verification found (0 is the only healthy value)",
        [],
        [([], float(last["violations"]))],
    )
    yield gauge(
        "ledgerline_ledger_verification_last_run_timestamp_seconds",
        "When the last ledger verification finished (Unix time)",
        [],
        [([], float(last["at"]))],
    )


def metrics_connect() -> None:
    scrape_collector_register("ledger", _collect)
