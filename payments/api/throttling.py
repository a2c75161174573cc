"""Per-API-key rate limit (api-contract.md, Rate limits): a fixed window counted in Redis.

One Redis round trip per request (``SET NX EX`` then ``INCR``: in one script with the address's failure count when
authentication read the key from its cache, else in one MULTI), shared by every web process. The
rate is ``settings.LEDGERLINE_API_RATE``, e.g. ``100/s``. A fixed window may let through up to twice the rate
across a window boundary; that is the price of one atomic counter instead of a sorted set per key.
"""

from __future__ import annotations

import math
import time
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import redis
import structlog
from django.conf import settings
from django.core.cache import cache as django_cache
from redis.commands.core import Script
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from payments.models import ApiKey

if TYPE_CHECKING:  # rest_framework.views imports this module (DEFAULT_THROTTLE_CLASSES) while it loads
    from rest_framework.views import APIView

_PERIODS = {"s": 1, "m": 60, "h": 3600}
logger = structlog.get_logger(__name__)


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[:1]]


@cache
@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    # One client (and its connection pool) per process and URL: a client per call opened a new TCP connection to
    # Redis for every counter read, twice per request. The pool is thread-safe.
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _hit(key: str, ttl: int) -> int:
    if settings.REDIS_URL:
        pipe = _redis(settings.REDIS_URL).pipeline(transaction=True)
        pipe.set(key, 0, ex=ttl, nx=True)
        pipe.incr(key)
        return int(pipe.execute()[1])
    # The embedded shape has no Redis; its file cache is shared by its processes, which is good enough there.
    if django_cache.add(key, 1, timeout=ttl):
        return 1
    try:
        return django_cache.incr(key)
    except ValueError:  # expired between add and incr
        django_cache.add(key, 1, timeout=ttl)
        return 1


def _count(key: str) -> int:
    if settings.REDIS_URL:
        value = _redis(settings.REDIS_URL).get(key)
        return int(value) if value is not None else 0
    return int(django_cache.get(key) or 0)


def _failure_window(address: str) -> tuple[str, int, int, float]:
    limit, period = parse_rate(settings.LEDGERLINE_AUTH_FAILURE_RATE)
    now = time.time()
    return f"ll:authfail:{address}:{period}:{int(now // period)}", limit, period, period - (now % period)


# Redis restarting (redis-py raises ValueError on a socket closed under it): a limit is a guard against abuse, not
# a reason to answer every request with a 500 while its counter is away.
_COUNTER_DOWN = (redis.RedisError, OSError, ValueError)


def auth_failures_wait(address: str) -> int | None:
    """Seconds until ``address`` may try again, when it failed to authenticate too often in this window."""
    key, limit, _, wait = _failure_window(address)
    try:
        failures = _count(key)
    except _COUNTER_DOWN as exc:
        logger.warning("throttle_counter_unavailable", error=f"{type(exc).__name__}: {exc}")
        return None
    return math.ceil(wait) if failures >= limit else None


def _rate_window(api_key_id: object) -> tuple[str, int, int, float]:
    limit, period = parse_rate(settings.LEDGERLINE_API_RATE)
    now = time.time()
    return f"ll:throttle:{api_key_id}:{period}:{int(now // period)}", limit, period, period - (now % period)


# Where authentication leaves the key's rate counter when it already counted it (``auth_check_and_count``).
RATE_HITS_ATTRIBUTE = "ledgerline_rate_hits"


# The address's failure count read, and the key's window counter created (with its expiry) and incremented, as one
# script: one command and one reply where a MULTI of three commands was five of each, and just as atomic.
_CHECK_AND_COUNT = """
local failures = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[2], 0, 'EX', ARGV[1], 'NX')
return {tonumber(failures) or 0, redis.call('INCR', KEYS[2])}
"""


@cache
def _check_and_count_script(url: str) -> Script:
    # Sent by its SHA1 (EVALSHA), and in full once more whenever Redis answers that it does not know it (a restart).
    return Script(_redis(url), _CHECK_AND_COUNT)


def auth_check_and_count(address: str, api_key_id: object) -> tuple[int | None, int | None]:
    """``auth_failures_wait(address)`` and the key's rate counter in one Redis round trip instead of two:
    ``(wait, hits)``; ``hits`` is ``None`` when nothing was counted (no Redis, or it is away)."""
    if not settings.REDIS_URL:
        return auth_failures_wait(address), None
    failure_key, failure_limit, _, failure_wait = _failure_window(address)
    rate_key, _, period, _ = _rate_window(api_key_id)
    try:
        failures, hits = _check_and_count_script(settings.REDIS_URL)(keys=[failure_key, rate_key], args=[period + 1])
    except _COUNTER_DOWN as exc:
        logger.warning("throttle_counter_unavailable", error=f"{type(exc).__name__}: {exc}")
        return None, None
    wait = math.ceil(failure_wait) if int(failures or 0) >= failure_limit else None
    return wait, int(hits)


def auth_failure_record(address: str) -> None:
    key, _, period, _ = _failure_window(address)
    try:
        _hit(key, ttl=period + 1)
    except _COUNTER_DOWN as exc:
        logger.warning("throttle_counter_unavailable", error=f"{type(exc).__name__}: {exc}")


class ApiKeyRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True  # unauthenticated requests are refused before they cost anything
        key, limit, period, wait = _rate_window(api_key.pk)
        hits = getattr(request, RATE_HITS_ATTRIBUTE, None)  # counted with the authentication's own Redis call
        if hits is None:
            try:
                hits = _hit(key, ttl=period + 1)
            except _COUNTER_DOWN as exc:
                logger.warning("throttle_counter_unavailable", error=f"{type(exc).__name__}: {exc}")
                return True
        if hits <= limit:
            return True
        self._wait = wait
        return False

    def wait(self) -> float | None:
        return math.ceil(self._wait) if self._wait is not None else None
