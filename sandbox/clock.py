"""Virtual clock: wall-clock UTC plus an adjustable offset, so expiry and settlement can be tested without sleeping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

# Fixed-width format so that ISO strings stored in SQLite sort and compare like the datetimes they encode.
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(moment: datetime) -> str:
    """Render an aware datetime as fixed-width ISO 8601 UTC (``2025-01-02T03:04:05.000000Z``)."""
    return moment.astimezone(UTC).strftime(_ISO_FORMAT)


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset); naive input is taken as UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_day(text: str) -> date:
    return date.fromisoformat(text)


class Clock:
    """Sandbox time. Everything the providers do (expiry, settlement dates, ``created``) reads this clock."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset_seconds = offset_seconds

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)

    def advance(self, seconds: float) -> datetime:
        # Going backwards would let expired transactions come back to life, which no real provider does.
        if seconds < 0:
            raise ValueError("advance_seconds must be >= 0")
        self.offset_seconds += seconds
        return self.now()

    def set(self, moment: datetime) -> datetime:
        self.offset_seconds = (moment - datetime.now(UTC)).total_seconds()
        return self.now()
