"""The request pipeline every provider endpoint shares: outage, auth, injected faults, idempotency, logging.

Order matters and mirrors a real network path: an outage or a 5xx/timeout fault happens *before* the provider
does anything (nothing applied, nothing stored for idempotency); ``lose_response`` happens *after* the provider
applied the operation and stored the idempotent response, so a retry with the same key gets the original result.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import ApiError

if TYPE_CHECKING:
    from .core import Sandbox

# Validation failures are not stored, so a corrected retry with the same key works (as on the platform).
_NOT_STORED = frozenset({400})


@dataclass
class Call:
    sb: Sandbox
    request: Request
    provider: str
    body: dict[str, Any]
    path: dict[str, Any]
    query: dict[str, str]


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Reply]

# Marker set on the response so the logging middleware can report which fault fired.
FAULT_HEADER = "Sandbox-Fault"


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    merged = {"Should-Retry": "true" if error.retryable else "false", **(headers or {})}
    return JSONResponse(error.body(), status_code=error.status, headers=merged)


def _log(request: Request, **fields: Any) -> None:
    request.scope.setdefault("sandbox.log", {}).update(fields)


def drop_connection(request: Request) -> bool:
    """Abort the TCP connection without a response, as a crashed load balancer would.

    Uses the server's own ``send`` (kept by the outer middleware) to reach the transport; uvicorn's h11 cycle
    exposes it. Returns False when that is impossible so the caller can fall back to a 5xx.
    """
    raw_send = request.scope.get("sandbox.raw_send")
    cycle = getattr(raw_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    return True


async def read_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    # HTML forms (the UPI payer page) post urlencoded; curl -d also labels JSON that way, so JSON wins.
    if content_type.startswith("application/x-www-form-urlencoded") and not raw.lstrip().startswith(b"{"):
        return dict(parse_qsl(raw.decode()))
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "invalid_request_error", "invalid_json", f"body is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ApiError(400, "invalid_request_error", "invalid_json", "body must be a JSON object")
    return parsed


def _fingerprint(request: Request, body: dict[str, Any]) -> str:
    canonical = json.dumps([request.method, request.url.path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def authenticate(sb: Sandbox, provider: str, request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or token.strip() != sb.settings.api_keys[provider]:
        raise ApiError(401, "authentication_error", "invalid_api_key", f"missing or wrong API key for {provider}")


def _fault_error(status: int, mode: str) -> JSONResponse:
    error = ApiError(status, "api_error", "provider_unavailable", f"injected fault: {mode}", retryable=True)
    return error_response(error, {FAULT_HEADER: mode})


def provider_endpoint(
    sb: Sandbox,
    provider: str,
    operation: str,
    handler: Handler,
    *,
    mutating: bool,
    authenticated: bool = True,
) -> Callable[[Request], Any]:
    """Wrap a synchronous handler in the shared pipeline. Handlers never await, so each one is atomic."""
    in_flight = sb.in_flight

    async def endpoint(request: Request) -> Response:
        _log(request, provider=provider, operation=operation)
        plan = sb.faults.request_plan(provider, operation)
        if plan.action == "outage":
            _log(request, fault="outage")
            if plan.params.get("how") == "drop" and drop_connection(request):
                return Response(status_code=503)
            error = ApiError(503, "api_error", "provider_outage", f"{provider} is down", retryable=True)
            return error_response(error, {"Sandbox-Outage": "true", FAULT_HEADER: "outage", "Retry-After": "5"})
        try:
            if authenticated:
                authenticate(sb, provider, request)
        except ApiError as exc:
            return error_response(exc)
        if plan.latency_ms:
            _log(request, latency_ms=plan.latency_ms)
            await asyncio.sleep(plan.latency_ms / 1000)
        if plan.action == "error":
            _log(request, fault="error")
            return _fault_error(int(plan.params.get("status", 500)), "error")
        if plan.action == "timeout" and not plan.params.get("apply", False):
            _log(request, fault="timeout")
            await asyncio.sleep(float(plan.params.get("seconds", sb.tunables.hang_seconds)))
            return _fault_error(504, "timeout")

        try:
            body = await read_body(request) if request.method == "POST" else {}
        except ApiError as exc:
            return error_response(exc)
        key = request.headers.get("idempotency-key") if mutating else None
        fingerprint = _fingerprint(request, body) if key else ""
        if key:
            _log(request, idempotency_key=key)
            if len(key) > 255:
                return error_response(
                    ApiError(400, "invalid_request_error", "idempotency_key_too_long", "at most 255 characters")
                )
            if (provider, key) in in_flight:
                return error_response(
                    ApiError(
                        409,
                        "idempotency_error",
                        "idempotency_key_in_use",
                        "a request with this key is running",
                    )
                )
            stored = sb.store.idem_get(provider, key)
            if stored is not None:
                if stored["fingerprint"] != fingerprint:
                    return error_response(
                        ApiError(
                            422,
                            "idempotency_error",
                            "idempotency_key_reused",
                            "this Idempotency-Key was used with a different request",
                        )
                    )
                _log(request, replayed=True)
                return Response(
                    stored["body"],
                    status_code=stored["status"],
                    media_type="application/json",
                    headers={"Idempotent-Replayed": "true"},
                )
            in_flight.add((provider, key))
        try:
            call = Call(sb, request, provider, body, dict(request.path_params), dict(request.query_params))
            try:
                reply = handler(call)
            except ApiError as exc:
                reply = Reply(exc.status, exc.body(), {"Should-Retry": "true" if exc.retryable else "false"})
            payload = json.dumps(reply.body)
            if key and reply.status not in _NOT_STORED:
                sb.store.idem_put(provider, key, fingerprint, reply.status, payload, sb.now_iso())
        finally:
            if key:
                in_flight.discard((provider, key))

        if plan.action == "lose_response":
            how = str(plan.params.get("how", "drop"))
            _log(request, fault=f"lose_response:{how}", applied_status=reply.status)
            if how == "timeout":
                await asyncio.sleep(float(plan.params.get("seconds", sb.tunables.hang_seconds)))
                return _fault_error(504, "lose_response")
            if how == "drop" and drop_connection(request):
                return Response(status_code=500)
            return _fault_error(int(how) if how.isdigit() else 502, "lose_response")
        if plan.action == "timeout":  # apply=true: the work is done, then the caller is left hanging
            _log(request, fault="timeout_after_apply")
            await asyncio.sleep(float(plan.params.get("seconds", sb.tunables.hang_seconds)))
            return _fault_error(504, "timeout")
        return Response(payload, status_code=reply.status, media_type="application/json", headers=reply.headers)

    return endpoint
