"""Prometheus metrics: what every process counts, and the ``/metrics`` page that shows them all.

Two kinds of figures:

* **Counted where they happen** (requests, tasks, provider calls, transitions): ``prometheus_client`` counters and
  histograms. Under gunicorn and Celery several processes count at once, so when ``PROMETHEUS_MULTIPROC_DIR`` is
  set every process writes its figures to files there and ``/metrics`` adds them up (the client's multiprocess
  mode). That folder must be empty when the platform starts and shared by all its processes on one host
  (``run_platform`` does both; docs/operations.md says how in production).
* **Read at scrape time** (queue depths, circuit states, outbox lag, open discrepancies …): collectors that the
  apps register with :func:`scrape_collector_register`; each runs a cheap query (an index or a cache read) when
  Prometheus asks, so the figure is right whichever process changed it.

Access: with ``METRICS_TOKEN`` set the page wants ``Authorization: Bearer <token>``; without one it answers only
on loopback, and never in the production shape (``METRICS_OPEN_ON_LOOPBACK``).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterable, Iterator

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = structlog.get_logger(__name__)

# Latency buckets in seconds: from a cached read to a provider call at its read timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    "ledgerline_http_requests_total", "HTTP requests answered, by route pattern", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "ledgerline_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


# --- figures read at scrape time ------------------------------------------------------------------------------
ScrapeFunction = Callable[[], Iterable[Metric]]
_scrape_functions: dict[str, ScrapeFunction] = {}


def scrape_collector_register(name: str, collect: ScrapeFunction) -> None:
    """Adds figures computed when Prometheus scrapes (``collect`` yields metric families; keep it cheap)."""
    _scrape_functions[name] = collect


def gauge(name: str, documentation: str, labels: list[str], values: Iterable[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


class _ScrapeCollector(Collector):
    """Runs every registered scrape function; one that fails (database down …) costs only its own figures."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "ledgerline_metrics_collector_up", "1 when a scrape-time collector answered", labels=["collector"]
        )
        for name, function in _scrape_functions.items():
            try:
                families = list(function())
            except Exception as exc:  # a scrape must still show everything else
                logger.warning("metrics_collector_failed", collector=name, error=f"{type(exc).__name__}: {exc}")
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


class _ThisProcess(Collector):
    """The process's own registry, when there is no multiprocess folder to read (tests, ``runserver``)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def metrics_render() -> bytes:
    registry = CollectorRegistry()
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(_ScrapeCollector())
    return generate_latest(registry)


# --- the page -------------------------------------------------------------------------------------------------
def _loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(str(request.META.get("REMOTE_ADDR", ""))).is_loopback
    except ValueError:
        return False


def metrics_access_allowed(request: HttpRequest) -> bool:
    token: str = settings.METRICS_TOKEN
    if token:
        scheme, _, given = str(request.headers.get("Authorization", "")).partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return bool(settings.METRICS_OPEN_ON_LOOPBACK) and _loopback(request)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        response = HttpResponse("metrics need a bearer token\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE_LATEST)


# --- requests -------------------------------------------------------------------------------------------------
class RequestMetricsMiddleware:
    """Counts and times every request by its URL pattern (``v1/payments/<str:payment_id>/confirm``), never by its
    raw path, so one label value stands for a route however many ids pass through it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = str(match.route) if match is not None and match.route else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def mark_process_dead(pid: int) -> None:
    """gunicorn's ``child_exit`` and Celery's process shutdown: a dead process's live gauges stop counting."""
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
