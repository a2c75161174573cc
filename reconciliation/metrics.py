"""A process-independent counter in the cache (Redis in production): enough for a dashboard to scrape."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.cache import cache
from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, Metric

from core.metrics import gauge, scrape_collector_register

_PREFIX = "metric:"


def counter_increment(name: str, by: int = 1) -> int:
    key = _PREFIX + name
    cache.add(key, 0, timeout=None)
    return int(cache.incr(key, by))


def counter_value(name: str) -> int:
    return int(cache.get(_PREFIX + name, 0))


def _collect() -> Iterator[Metric]:
    from reconciliation.alerts import ALERT_METRIC
    from reconciliation.enums import DiscrepancyStatus
    from reconciliation.models import Discrepancy

    # The exception queue's own index (status, kind, connector) answers this without touching the rows.
    open_by_class = (
        Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN)
        .values("kind", "connector")
        .annotate(n=Count("id"))
        .order_by()
    )
    yield gauge(
        "ledgerline_reconciliation_discrepancies_open",
        "Open discrepancies in the exception queue, by class and connector",
        ["kind", "connector"],
        (([row["kind"], row["connector"]], row["n"]) for row in open_by_class),
    )
    yield CounterMetricFamily(
        "ledgerline_reconciliation_alerts",
        "Reconciliation runs that found more new discrepancies than the threshold",
        value=counter_value(ALERT_METRIC),
    )


def metrics_connect() -> None:
    scrape_collector_register("reconciliation", _collect)
