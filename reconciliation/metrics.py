"""A process-independent counter in the cache (Redis in production): enough for a dashboard to scrape."""

from django.core.cache import cache

_PREFIX = "metric:"


def counter_increment(name: str, by: int = 1) -> int:
    key = _PREFIX + name
    cache.add(key, 0, timeout=None)
    return int(cache.incr(key, by))


def counter_value(name: str) -> int:
    return int(cache.get(_PREFIX + name, 0))
