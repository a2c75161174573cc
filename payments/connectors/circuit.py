"""A circuit breaker per provider whose state every worker process shares (Redis, through Django's cache).

closed ──N transport failures within the window──▶ open ──cool-down──▶ half-open ──probe succeeds──▶ closed
                                                    ▲                        │
                                                    └──── probe fails ───────┘

While open, calls fail fast as ``not_sent`` (the provider never saw them), which is what lets the executor fail
over to the next connector. Half-open lets exactly one probe call through at a time (a ``SET NX`` with a TTL, so a
probe whose worker dies frees the slot). Only transport failures, timeouts and 5xx count: a decline is the
provider working correctly. A success resets the count, so the threshold means N failures in a row, each at most
``window_seconds`` after the first.

The embedded shape (no Redis) keeps the same keys in its file cache: shared between its processes, less atomic,
good enough for one machine.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import BaseCache, caches


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class CircuitPolicy:
    failure_threshold: int = 5
    window_seconds: float = 30.0
    cooldown_seconds: float = 15.0
    probe_timeout_seconds: float = 30.0  # a probe slot is released after this even if its worker died


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        policy: CircuitPolicy | None = None,
        *,
        cache_alias: str = "default",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.policy = policy or CircuitPolicy()
        self._cache_alias = cache_alias
        self._clock = clock
        prefix = f"ledgerline:circuit:{name}"
        self._failures_key = f"{prefix}:failures"
        self._open_until_key = f"{prefix}:open_until"
        self._probe_key = f"{prefix}:probe"

    @property
    def _cache(self) -> BaseCache:
        return caches[self._cache_alias]

    def state(self) -> CircuitState:
        open_until = self._cache.get(self._open_until_key)
        if open_until is None:
            return CircuitState.CLOSED
        return CircuitState.OPEN if self._clock() < float(open_until) else CircuitState.HALF_OPEN

    def is_open(self) -> bool:
        """Failing fast right now (a read only: unlike ``allow`` it never takes the half-open probe slot)."""
        return self.state() is CircuitState.OPEN

    def allow(self) -> bool:
        """May a call go to the provider now? In half-open, True for exactly one caller (the probe)."""
        open_until = self._cache.get(self._open_until_key)
        if open_until is None:
            return True
        if self._clock() < float(open_until):
            return False
        return bool(self._cache.add(self._probe_key, 1, timeout=self.policy.probe_timeout_seconds))

    def record_success(self) -> None:
        self._cache.delete_many([self._failures_key, self._open_until_key, self._probe_key])

    def record_failure(self) -> None:
        cache = self._cache
        if cache.get(self._open_until_key) is not None:
            # A failed probe (or a call that started before the circuit opened): open again for a full cool-down.
            self._open()
            return
        cache.add(self._failures_key, 0, timeout=self.policy.window_seconds)
        try:
            failures = cache.incr(self._failures_key)
        except ValueError:  # the window expired between add and incr: this failure starts a new one
            cache.add(self._failures_key, 1, timeout=self.policy.window_seconds)
            failures = 1
        if failures >= self.policy.failure_threshold:
            self._open()

    def reset(self) -> None:
        self.record_success()

    def _open(self) -> None:
        # No TTL: the circuit closes only after a successful probe, however long the provider stays down.
        self._cache.set(self._open_until_key, self._clock() + self.policy.cooldown_seconds, timeout=None)
        self._cache.delete_many([self._failures_key, self._probe_key])
