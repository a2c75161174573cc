"""Start-up settings (environment and command line) and the tunables that ``/_control/config`` may change."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

CARD_PROVIDERS: tuple[str, ...] = ("card_a", "card_b", "card_c")
PROVIDERS: tuple[str, ...] = (*CARD_PROVIDERS, "upi")


@dataclass
class Tunables:
    """Delays and retry knobs. Durations in *sandbox* seconds follow the virtual clock; ``*_ms`` are real time."""

    upi_auto_delay_seconds: float = 3.0  # success@upi / failure@upi / auto_approve intents
    upi_slow_delay_seconds: float = 120.0  # slow@upi
    upi_late_success_seconds: float = 60.0  # deemed@upi / late_success fault: success this long after expiry/failure
    refund_delay_seconds: float = 5.0  # pending refunds settle this long after acceptance
    auto_dispute_delay_seconds: float = 0.0  # 4000000000000259: chargeback this long after capture
    dispute_evidence_days: int = 7
    settlement_lag_days: int = 1  # T+1
    webhook_max_attempts: int = 5
    webhook_retry_base_ms: int = 1000  # attempt n waits base * 2**(n-1)
    webhook_timeout_ms: int = 10000
    webhook_duplicate_delay_ms: int = 50
    webhook_late_ms: int = 5000  # default delay of the ``late`` webhook fault
    webhook_reorder_hold_ms: int = 3000  # a held-back event is released at the latest after this
    hang_seconds: float = 600.0  # how long a ``timeout`` fault keeps the request open
    scheduler_tick_ms: int = 100

    def update(self, values: Mapping[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise KeyError(name)
            current = getattr(self, name)
            setattr(self, name, type(current)(value))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8100
    db: str = ":memory:"
    api_keys: dict[str, str] = field(default_factory=dict)
    webhook_secrets: dict[str, str] = field(default_factory=dict)
    webhook_url_template: str | None = None
    merchant_vpa: str = "ledgerline@sandbox"
    merchant_name: str = "Ledgerline Sandbox"
    seed: int | None = None
    tunables: Tunables = field(default_factory=Tunables)
    faults_json: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            host=env.get("SANDBOX_HOST", "127.0.0.1"),
            port=int(env.get("SANDBOX_PORT", "8100")),
            db=env.get("SANDBOX_DB", ":memory:"),
            webhook_url_template=env.get("SANDBOX_WEBHOOK_URL") or None,
            merchant_vpa=env.get("SANDBOX_UPI_MERCHANT_VPA", "ledgerline@sandbox"),
            merchant_name=env.get("SANDBOX_UPI_MERCHANT_NAME", "Ledgerline Sandbox"),
            seed=int(env["SANDBOX_SEED"]) if env.get("SANDBOX_SEED") else None,
            faults_json=env.get("SANDBOX_FAULTS") or None,
        )
        for provider in PROVIDERS:
            upper = provider.upper()
            settings.api_keys[provider] = env.get(f"SANDBOX_{upper}_API_KEY", f"sandbox_{provider}_key")
            settings.webhook_secrets[provider] = env.get(f"SANDBOX_{upper}_WEBHOOK_SECRET", f"whsec_sandbox_{provider}")
        # Every tunable can be preset as SANDBOX_<NAME>, e.g. SANDBOX_UPI_AUTO_DELAY_SECONDS=1.
        overrides = {
            f.name: env[f"SANDBOX_{f.name.upper()}"] for f in fields(Tunables) if f"SANDBOX_{f.name.upper()}" in env
        }
        settings.tunables.update(overrides)
        return settings
