"""Bounded retries with exponential backoff and full jitter (AWS architecture blog, "Exponential Backoff And Jitter").

Full jitter (a uniform delay between zero and the exponential ceiling) spreads the retries of many workers that
failed at the same moment, so a provider coming back is not hit by all of them at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # including the first call
    base_seconds: float = 1.0
    cap_seconds: float = 60.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay before retry number ``attempt`` (1 = the first retry)."""
        return float(min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1)))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retry number ``attempt``, or None when the attempts are used up."""
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        if attempt >= self.max_attempts:
            return None
        # Not security sensitive: jitter only needs to spread load (a seeded Random makes tests deterministic).
        return (rng or _rng).uniform(0.0, self.ceiling(attempt))


_rng = random.Random()  # noqa: S311 - see above: jitter, not secrets
