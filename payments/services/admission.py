"""Load shedding for work handed to the executor (api-contract.md, Rate limits and overload).

``executor_admission_check`` runs before any work starts (so a 503 is never stored under an idempotency key).
When a provider's queue already holds more than ``PSP_QUEUE_MAX_DEPTH`` tasks, confirming more payments would
only grow it without bound: the API answers ``503`` with ``Retry-After`` at once instead. Queue depths are read
from the Redis broker (one ``LLEN`` per queue, cached for a moment per process so a burst of requests does not
turn into a burst of Redis calls). The embedded shape's file broker has no cheap depth: nothing is shed there.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings

from payments.connectors import registry
from payments.exceptions import ServiceUnavailableError

_CACHE_SECONDS = 0.5
_depths: dict[str, tuple[float, int]] = {}
_client: redis.Redis | None = None


def _broker() -> redis.Redis | None:
    global _client
    url = str(settings.CELERY_BROKER_URL)
    if not url.startswith(("redis://", "rediss://")):
        return None
    if _client is None:
        _client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return _client


def queue_depth(queue: str) -> int:
    now = time.monotonic()
    cached = _depths.get(queue)
    if cached is not None and now - cached[0] < _CACHE_SECONDS:
        return cached[1]
    client = _broker()
    if client is None:
        return 0
    try:
        depth = int(client.llen(queue))
    except redis.RedisError:
        depth = 0  # the broker being down is /readyz's business; the relay keeps the work in the outbox
    _depths[queue] = (now, depth)
    return depth


def executor_admission_check(*, method: str | None = None) -> None:
    """Raises ``ServiceUnavailableError`` (503 + Retry-After) when a provider queue this payment would use is full."""
    names = registry.route_for(method) if method else registry.connector_names()
    for name in names:
        queue = registry.queue_for(name)
        depth = queue_depth(queue)
        if depth > settings.PSP_QUEUE_MAX_DEPTH:
            error = ServiceUnavailableError(
                f"The platform is busy ({queue} holds {depth} payments); retry after a few seconds."
            )
            error.retry_after = 5
            raise error
