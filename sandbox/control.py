"""``/_control``: the test harness's levers (faults, clock, disputes, settlement faults, webhook target) and the
independent truth (``records``, ``events``). Unauthenticated on purpose: bind the sandbox to localhost.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import disputes, scheduler, settlement
from .clock import iso, parse_iso
from .config import CARD_PROVIDERS, PROVIDERS
from .core import Sandbox, public
from .endpoint import read_body
from .errors import ApiError, invalid, not_found
from .faults import canonical_mode

ControlHandler = Callable[[Sandbox, Request, dict[str, Any]], Awaitable[Any] | Any]


def _provider(value: Any, allowed: tuple[str, ...] = PROVIDERS) -> str:
    if value not in allowed:
        raise invalid("invalid_provider", f"provider must be one of {list(allowed)}", "provider")
    return str(value)


def control(handler: ControlHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sb: Sandbox = request.app.state.sb
        try:
            body = await read_body(request) if request.method == "POST" else {}
            result = handler(sb, request, body)
            if hasattr(result, "__await__"):
                result = await result
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        except (KeyError, ValueError, TypeError) as exc:
            error = invalid("invalid_control_request", f"{type(exc).__name__}: {exc}")
            return JSONResponse(error.body(), status_code=400)
        return JSONResponse(result)

    return endpoint


def reset(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    state = bool(body.get("state", False))
    sb.reset(state=state)
    if state:
        sb.save_clock()
    return {"reset": True, "state_cleared": state}


def get_faults(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return sb.faults.snapshot()


def set_faults(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """``{"provider": "card_a", "error_rate": 0.2, ...}`` or ``{"providers": {"card_a": {...}}, "seed": 7}``."""
    if "seed" in body:
        sb.faults.reseed(body.pop("seed"))
    if "providers" in body:
        for provider, values in body["providers"].items():
            sb.faults.configure(_provider(provider), values)
    elif "provider" in body:
        provider = _provider(body.pop("provider"))
        sb.faults.configure(provider, body)
    return sb.faults.snapshot()


def next_fault(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """``{"provider": "card_a", "operation": "authorize", "mode": "lose_response", "count": 1, ...params}``."""
    provider = _provider(body.pop("provider", None))
    operation = str(body.pop("operation", "*"))
    mode = canonical_mode(str(body.pop("mode")))
    count = int(body.pop("count", 1))
    params = dict(body.pop("params", {}) or {})
    params.update(body)  # remaining keys (ms, status, how, apply, delay_ms, event_type...) are parameters
    sb.faults.add_rule(provider, operation, mode, count, params)
    return sb.faults.snapshot()


def clock_get(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return {"now": sb.now_iso(), "offset_seconds": sb.clock.offset_seconds}


def clock_set(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    if "set" in body:
        target = parse_iso(str(body["set"]))
        if target < sb.now():
            raise invalid("clock_backwards", "the sandbox clock never goes backwards", "set")
        sb.clock.set(target)
    if "advance_seconds" in body:
        sb.clock.advance(float(body["advance_seconds"]))
    sb.save_clock()
    ran = scheduler.run_due(sb)
    return {"now": sb.now_iso(), "offset_seconds": sb.clock.offset_seconds, "jobs_run": ran}


def run_jobs(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return {"jobs_run": scheduler.run_due(sb)}


def records(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    query = request.query_params
    data = sb.store.records(query.get("provider"), query.get("reference"))
    return {"object": "list", "data": data}


def events(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    query = request.query_params
    return {"object": "list", "data": sb.store.events(query.get("provider"), query.get("type"))}


def resend_event(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    event_id = request.path_params["event_id"]
    if not sb.webhooks.resend(event_id):
        raise not_found("resource_missing", f"no event {event_id}")
    return {"resent": event_id}


def webhook_config(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """``{"template": "http://host/psp/webhooks/{provider}"}`` and/or ``{"provider": "upi", "url": "..."}``."""
    if request.method == "POST":
        if "template" in body:
            sb.webhooks.template = body["template"] or None
        if "provider" in body:
            provider = _provider(body["provider"])
            if body.get("url"):
                sb.webhooks.urls[provider] = str(body["url"])
            else:
                sb.webhooks.urls.pop(provider, None)
    return sb.webhooks.config()


def create_dispute(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    provider = _provider(body.get("provider"), CARD_PROVIDERS)
    charge = None
    if body.get("charge"):
        charge = sb.store.get(str(body["charge"]), "charge", provider)
    elif body.get("reference"):
        found = [
            c for c in sb.store.by_reference(provider, "charge", str(body["reference"])) if c["status"] == "captured"
        ]
        charge = found[-1] if found else None
    if charge is None:
        raise not_found("resource_missing", "no captured charge matches 'charge' / 'reference'")
    dispute = disputes.open_dispute(sb, charge, reason=str(body.get("reason", "fraudulent")), amount=body.get("amount"))
    return public(dispute)


def resolve_dispute(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    dispute = sb.store.get(request.path_params["dispute_id"], "dispute")
    if dispute is None:
        raise not_found("resource_missing", f"no dispute {request.path_params['dispute_id']}")
    return public(disputes.resolve(sb, dispute, str(body.get("outcome"))))


def settlement_faults(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """``{"provider": "card_a", "mode": "drop_line", "date": "2025-01-02", "reference": "ord_1", "delta": 100}``."""
    if request.method == "POST":
        provider = _provider(body.get("provider"))
        mode = body.get("mode")
        if mode not in settlement.FAULT_MODES:
            raise invalid("invalid_mode", f"mode must be one of {list(settlement.FAULT_MODES)}", "mode")
        if body.get("date"):
            date.fromisoformat(str(body["date"]))
        sb.settlement_faults.append({**body, "provider": provider, "mode": mode, "date": body.get("date")})
    return {"object": "list", "data": sb.settlement_faults}


def config(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    if request.method == "POST":
        sb.tunables.update(body)
    return sb.tunables.as_dict()


def state(sb: Sandbox, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "now": iso(sb.now()),
        "faults": sb.faults.snapshot(),
        "settlement_faults": sb.settlement_faults,
        "webhooks": sb.webhooks.config(),
        "config": sb.tunables.as_dict(),
        "api_keys": {p: f"...{k[-4:]}" for p, k in sb.settings.api_keys.items()},
    }


def routes() -> list[Route]:
    def route(path: str, handler: ControlHandler, methods: list[str]) -> Route:
        return Route(f"/_control{path}", control(handler), methods=methods)

    return [
        route("", state, ["GET"]),
        route("/reset", reset, ["POST"]),
        route("/faults", get_faults, ["GET"]),
        route("/faults", set_faults, ["POST"]),
        route("/faults/next", next_fault, ["POST"]),
        route("/clock", clock_get, ["GET"]),
        route("/clock", clock_set, ["POST"]),
        route("/jobs/run", run_jobs, ["POST"]),
        route("/records", records, ["GET"]),
        route("/events", events, ["GET"]),
        route("/events/{event_id}/resend", resend_event, ["POST"]),
        route("/webhooks", webhook_config, ["GET", "POST"]),
        route("/disputes", create_dispute, ["POST"]),
        route("/disputes/{dispute_id}/resolve", resolve_dispute, ["POST"]),
        route("/settlement_faults", settlement_faults, ["GET", "POST"]),
        route("/config", config, ["GET", "POST"]),
    ]


def load_env_faults(sb: Sandbox, raw: str | None) -> None:
    """``SANDBOX_FAULTS`` at start: ``{"card_a": {"latency_ms": 200}, "rules": [{...next-N rule...}]}``."""
    if not raw:
        return
    spec = json.loads(raw)
    for rule in spec.pop("rules", []):
        rule = dict(rule)
        provider = _provider(rule.pop("provider", None))
        operation, mode, count = str(rule.pop("operation", "*")), str(rule.pop("mode")), int(rule.pop("count", 1))
        sb.faults.add_rule(provider, operation, mode, count, rule)
    if "seed" in spec:
        sb.faults.reseed(spec.pop("seed"))
    for provider, values in spec.items():
        sb.faults.configure(_provider(provider), values)
