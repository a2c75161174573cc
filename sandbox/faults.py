"""Fault injection: per-provider standing rates (seedable) and deterministic "next N calls" rules.

Request faults are decided before a provider endpoint runs (outage, latency, error, timeout) or after it applied
its effect (lose_response). Webhook faults shape delivery. ``late_success``, ``refund_pending`` and
``refund_fail`` change what the provider does with a UPI transaction or a refund.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .config import PROVIDERS

REQUEST_MODES = frozenset({"outage", "latency", "error", "timeout", "lose_response"})
WEBHOOK_MODES = frozenset({"duplicate", "late", "reorder", "drop"})
BEHAVIOUR_MODES = frozenset({"late_success", "refund_pending", "refund_fail"})
ALL_MODES = REQUEST_MODES | WEBHOOK_MODES | BEHAVIOUR_MODES

# Friendlier spellings accepted from callers; stored under the canonical name.
_ALIASES = {
    "5xx": "error",
    "hang": "timeout",
    "lost_response": "lose_response",
    "duplicate_webhook": "duplicate",
    "late_webhook": "late",
    "reorder_webhook": "reorder",
    "out_of_order": "reorder",
    "out_of_order_webhook": "reorder",
    "drop_webhook": "drop",
    "deemed_success": "late_success",
}


def canonical_mode(mode: str) -> str:
    mode = _ALIASES.get(mode, mode)
    if mode not in ALL_MODES:
        raise ValueError(f"unknown fault mode {mode!r}; known: {sorted(ALL_MODES)}")
    return mode


@dataclass
class ProviderFaults:
    """Standing faults of one provider. Rates are probabilities in [0, 1] drawn from the seeded generator."""

    outage: bool = False
    outage_how: str = "503"  # 503 (with Sandbox-Outage header) | drop (connection closed without a response)
    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 500
    timeout_rate: float = 0.0
    lose_response_rate: float = 0.0
    lose_response_how: str = "drop"  # drop | 500 | 502 | 504 | timeout
    duplicate_webhook_rate: float = 0.0
    late_webhook_rate: float = 0.0
    late_webhook_ms: int = 0  # 0 = use tunable webhook_late_ms
    reorder_webhook_rate: float = 0.0
    drop_webhook_rate: float = 0.0
    late_success_rate: float = 0.0
    refund_pending_rate: float = 0.0
    refund_fail_rate: float = 0.0
    # Operations the *rates* apply to (None = all). Next-N rules carry their own operation.
    operations: list[str] | None = None

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise KeyError(name)
            if name == "operations":
                self.operations = list(value) if value is not None else None
                continue
            current = getattr(self, name)
            if isinstance(current, bool):
                setattr(self, name, bool(value))
            elif isinstance(current, float) and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
            else:
                setattr(self, name, type(current)(value))


@dataclass
class Rule:
    """ "The next ``count`` calls to ``operation`` of ``provider`` do ``mode``" (``operation`` ``*`` = any)."""

    provider: str
    operation: str
    mode: str
    count: int
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, provider: str, operation: str, modes: frozenset[str]) -> bool:
        return (
            self.count > 0 and self.provider == provider and self.mode in modes and self.operation in ("*", operation)
        )


@dataclass
class RequestPlan:
    latency_ms: int = 0
    action: str | None = None  # outage | error | timeout | lose_response
    params: dict[str, Any] = field(default_factory=dict)


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - simulated failures, not cryptography
        self.providers: dict[str, ProviderFaults] = {p: ProviderFaults() for p in PROVIDERS}
        self.rules: list[Rule] = []

    def reset(self) -> None:
        self.providers = {p: ProviderFaults() for p in PROVIDERS}
        self.rules = []
        self.rng = random.Random(self.seed)  # noqa: S311 - simulated failures, not cryptography

    def reseed(self, seed: int | None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - simulated failures, not cryptography

    def configure(self, provider: str, values: dict[str, Any]) -> None:
        if provider not in self.providers:
            raise KeyError(provider)
        self.providers[provider].update(values)

    def add_rule(self, provider: str, operation: str, mode: str, count: int, params: dict[str, Any]) -> Rule:
        if provider not in self.providers:
            raise KeyError(provider)
        rule = Rule(provider, operation or "*", canonical_mode(mode), max(int(count), 0), params)
        if rule.count:
            self.rules.append(rule)
        return rule

    def take(self, provider: str, operation: str, modes: frozenset[str]) -> Rule | None:
        """Consume one use of the first matching rule (rules fire in the order they were added)."""
        for rule in self.rules:
            if rule.matches(provider, operation, modes):
                return self._consume(rule)
        return None

    def _consume(self, rule: Rule) -> Rule:
        # Every request scans the rules several times: a spent rule is dropped at once, or a long chaos run that
        # adds a rule every half second makes each provider call walk thousands of them (seen: 1 ms became 500 ms
        # and the sandbox stopped answering after 45 minutes).
        rule.count -= 1
        if rule.count <= 0:
            self.rules.remove(rule)
        return rule

    def _roll(self, provider: str, operation: str, rate_name: str) -> bool:
        settings = self.providers[provider]
        if settings.operations is not None and operation not in settings.operations:
            return False
        rate = float(getattr(settings, rate_name))
        return rate > 0 and self.rng.random() < rate

    def request_plan(self, provider: str, operation: str) -> RequestPlan:
        settings = self.providers[provider]
        plan = RequestPlan(latency_ms=settings.latency_ms)
        rule = self.take(provider, operation, frozenset({"outage"})) if not settings.outage else None
        if settings.outage or rule:
            plan.action = "outage"
            plan.params = {"how": rule.params.get("how", "503") if rule else settings.outage_how}
            return plan
        latency_rule = self.take(provider, operation, frozenset({"latency"}))
        if latency_rule:
            plan.latency_ms += int(latency_rule.params.get("ms", latency_rule.params.get("latency_ms", 1000)))
        rule = self.take(provider, operation, frozenset({"error", "timeout", "lose_response"}))
        if rule:
            plan.action, plan.params = rule.mode, dict(rule.params)
            return plan
        if self._roll(provider, operation, "error_rate"):
            plan.action, plan.params = "error", {"status": settings.error_status}
        elif self._roll(provider, operation, "timeout_rate"):
            plan.action = "timeout"
        elif self._roll(provider, operation, "lose_response_rate"):
            plan.action, plan.params = "lose_response", {"how": settings.lose_response_how}
        return plan

    def webhook_plan(self, provider: str, event_type: str) -> dict[str, dict[str, Any]]:
        """Which webhook faults apply to one event: mode -> params."""
        settings = self.providers[provider]
        plan: dict[str, dict[str, Any]] = {}
        for mode in sorted(WEBHOOK_MODES):
            rule = self._take_webhook(provider, event_type, mode)
            if rule is not None:
                plan[mode] = dict(rule.params)
            elif self._roll(provider, "webhook", f"{mode}_webhook_rate"):
                plan[mode] = (
                    {"delay_ms": settings.late_webhook_ms} if mode == "late" and settings.late_webhook_ms else {}
                )
        return plan

    def _take_webhook(self, provider: str, event_type: str, mode: str) -> Rule | None:
        # A webhook rule's operation is "webhook"/"*" (any event) or an exact event type.
        for rule in self.rules:
            if (
                rule.count > 0
                and rule.provider == provider
                and rule.mode == mode
                and rule.operation in ("*", "webhook", event_type)
                and rule.params.get("event_type") in (None, event_type)
            ):
                return self._consume(rule)
        return None

    def behaviour(self, provider: str, operation: str, mode: str) -> Rule | bool:
        """For late_success / refund_pending / refund_fail: a consumed rule, or the outcome of the rate roll."""
        rule = self.take(provider, operation, frozenset({mode}))
        if rule:
            return rule
        return self._roll(provider, operation, f"{mode}_rate")

    def snapshot(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "providers": {p: asdict(f) for p, f in self.providers.items()},
            "rules": [asdict(r) for r in self.rules if r.count > 0],
        }
