"""The running sandbox: settings, clock, store, faults, webhooks and the helpers every provider module shares."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from .clock import Clock, iso
from .config import Settings
from .faults import Faults
from .store import Store
from .webhooks import WebhookDispatcher


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop sandbox-private fields (leading underscore) before an object leaves the server."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


class Sandbox:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tunables = settings.tunables
        self._initial_tunables = settings.tunables.as_dict()
        self.store = Store(settings.db)
        stored_offset = self.store.meta_get("clock_offset_seconds")
        self.clock = Clock(float(stored_offset) if stored_offset else 0.0)
        self.faults = Faults(settings.seed)
        self.webhooks = WebhookDispatcher(self)
        # Settlement faults are switched on by tests; kept in memory like the other faults.
        self.settlement_faults: list[dict[str, Any]] = []
        # (provider, Idempotency-Key) of requests still executing, shared by all endpoints of a provider.
        self.in_flight: set[tuple[str, str]] = set()

    # --- time -------------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def now_iso(self) -> str:
        return iso(self.clock.now())

    def save_clock(self) -> None:
        self.store.meta_set("clock_offset_seconds", repr(self.clock.offset_seconds))

    # --- helpers ----------------------------------------------------------------------------------------------

    @staticmethod
    def new_id(prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    @staticmethod
    def new_rrn() -> str:
        """UPI retrieval reference number / UTR: 12 digits."""
        return f"{secrets.randbelow(10**12):012d}"

    def schedule(self, delay_seconds: float, kind: str, payload: dict[str, Any]) -> str:
        due = iso(self.now() + timedelta(seconds=delay_seconds))
        self.store.add_job(due, kind, payload)
        return due

    def schedule_at(self, due: str, kind: str, payload: dict[str, Any]) -> None:
        self.store.add_job(due, kind, payload)

    def record(
        self,
        provider: str,
        kind: str,
        *,
        reference: str | None,
        object_id: str,
        charge_id: str | None,
        amount: int,
        currency: str,
        fee: int = 0,
    ) -> None:
        """Write to the independent truth log: one row per money movement the provider really applied."""
        self.store.add_record(
            provider=provider,
            kind=kind,
            reference=reference,
            object_id=object_id,
            charge_id=charge_id,
            amount=amount,
            currency=currency,
            fee=fee,
            created_at=self.now_iso(),
        )

    def emit(self, provider: str, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self.webhooks.emit(provider, type_, public(obj))

    def reset(self, *, state: bool) -> None:
        self.faults.reset()
        self.settlement_faults.clear()
        if state:
            self.webhooks.discard_pending()
        else:
            self.webhooks.reset_faults()
        if state:
            self.store.reset()
            self.clock.offset_seconds = 0.0
            self.tunables.update(self._initial_tunables)
            self.webhooks.urls.clear()
            self.webhooks.template = self.settings.webhook_url_template
