"""Load shedding: a request that already waited too long in front of the application is answered 503 at once.

Past its capacity a server queues what it cannot serve yet (the proxy's, gunicorn's and the kernel's queues), and
every request waits for all those ahead of it: latency grows without bound until clients time out, and the work
done for them is wasted. The proxy in front of the web processes stamps each request with the time it received it
(``X-Request-Start``, as nginx's ``t=${msec}`` or milliseconds since the epoch); a request that waited longer than
``LEDGERLINE_MAX_QUEUE_MS`` before reaching Django is refused with ``503`` + ``Retry-After`` before any work is
done, which costs a fraction of serving it, so the queue drains and the requests that are served stay fast.

Without the header (no proxy stamping it) nothing is shed; probes and ``/metrics`` are never shed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.api.errors import error_body

logger = structlog.get_logger(__name__)

_NEVER_SHED = ("/healthz", "/readyz", "/metrics")


def queue_wait_ms(stamp: str, now: float) -> float | None:
    """Milliseconds since ``stamp`` (``t=<seconds>.<ms>``, seconds, milliseconds or microseconds since the epoch)."""
    try:
        value = float(stamp.strip().removeprefix("t="))
    except ValueError:
        return None
    for scale in (1.0, 1e3, 1e6):  # seconds, milliseconds, microseconds: the one that lands near now
        seconds = value / scale
        if abs(now - seconds) < 86_400:
            return max(0.0, (now - seconds) * 1000)
    return None


class QueueTimeSheddingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        budget_ms: float = settings.LEDGERLINE_MAX_QUEUE_MS
        stamp = request.META.get("HTTP_X_REQUEST_START")
        if budget_ms and stamp and not request.path.startswith(_NEVER_SHED):
            waited = queue_wait_ms(str(stamp), time.time())
            if waited is not None and waited > budget_ms:
                logger.warning("request_shed", waited_ms=round(waited), budget_ms=budget_ms)
                body = error_body(
                    type_="api_error", code="service_unavailable", message="The service is overloaded; retry."
                )
                return JsonResponse(body, status=503, headers={"Retry-After": "1", "Should-Retry": "true"})
        return self.get_response(request)
