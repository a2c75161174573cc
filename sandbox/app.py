"""The ASGI application: routes for every provider, the control surface, request logging, background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import cards, control, disputes, refunds, scheduler, settlement, upi
from .config import CARD_PROVIDERS, PROVIDERS, Settings
from .core import Sandbox
from .endpoint import Handler, authenticate, error_response, provider_endpoint
from .errors import ApiError, invalid, not_found


class RequestLog:
    """Outermost ASGI layer: ``Request-Id`` header, one JSON log line per request, and the raw ``send`` kept in
    the scope so ``lose_response`` can abort the real connection."""

    def __init__(self, app: ASGIApp, sb: Sandbox) -> None:
        self.app = app
        self.sb = sb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{secrets.token_hex(8)}"
        scope["sandbox.raw_send"] = send
        scope["sandbox.log"] = {}
        status: dict[str, int | None] = {"code": None}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                MutableHeaders(scope=message).append("Request-Id", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            line = {
                "ts": self.sb.now_iso(),
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status["code"],
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                **scope["sandbox.log"],
            }
            # stdout, one JSON object per line, flushed so log shippers and tests see it at once.
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()


def _card_routes(sb: Sandbox, p: str) -> list[BaseRoute]:
    def route(path: str, op: str, handler: Handler, method: str) -> Route:
        endpoint = provider_endpoint(sb, p, op, handler, mutating=method == "POST")
        return Route(f"/{p}/v1{path}", endpoint, methods=[method])

    return [
        route("/tokens", "tokenize", cards.tokenize, "POST"),
        route("/charges", "authorize", cards.authorize, "POST"),
        route("/charges/by_reference/{reference:path}", "lookup", cards.by_reference, "GET"),
        route("/charges/{charge_id}", "retrieve", cards.retrieve, "GET"),
        route("/charges/{charge_id}/capture", "capture", cards.capture, "POST"),
        route("/charges/{charge_id}/void", "void", cards.void, "POST"),
        route("/charges/{charge_id}/refunds", "refund", refunds.create, "POST"),
        route("/refunds/by_reference/{reference:path}", "lookup", refunds.by_reference, "GET"),
        route("/refunds/{refund_id}", "retrieve", refunds.retrieve, "GET"),
        route("/disputes", "retrieve", disputes.list_disputes, "GET"),
        route("/disputes/{dispute_id}", "retrieve", disputes.retrieve, "GET"),
        route("/disputes/{dispute_id}/evidence", "dispute_evidence", disputes.submit_evidence, "POST"),
        route("/disputes/{dispute_id}/accept", "dispute_accept", disputes.accept, "POST"),
    ]


def _payer_endpoint(inner: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        response = await inner(request)
        return upi.form_redirect(request, response) if response.status_code == 200 else response

    return endpoint


def _upi_routes(sb: Sandbox) -> list[BaseRoute]:
    def endpoint(op: str, handler: Handler, *, mutating: bool, authenticated: bool = True) -> Any:
        return provider_endpoint(sb, "upi", op, handler, mutating=mutating, authenticated=authenticated)

    base = "/upi/v1"
    return [
        Route(f"{base}/vpa/verify", endpoint("verify_vpa", upi.verify_vpa, mutating=False), methods=["POST"]),
        Route(f"{base}/transactions", endpoint("create", upi.create, mutating=True), methods=["POST"]),
        Route(
            f"{base}/transactions/by_reference/{{reference:path}}",
            endpoint("lookup", upi.by_reference, mutating=False),
            methods=["GET"],
        ),
        Route(f"{base}/transactions/{{txn_id}}", endpoint("retrieve", upi.retrieve, mutating=False), methods=["GET"]),
        Route(f"{base}/transactions/{{txn_id}}/pay", upi.pay_page, methods=["GET"], name="upi_pay_page"),
        Route(
            f"{base}/transactions/{{txn_id}}/approve",
            _payer_endpoint(endpoint("approve", upi.approve, mutating=False, authenticated=False)),
            methods=["POST"],
            name="upi_approve",
        ),
        Route(
            f"{base}/transactions/{{txn_id}}/decline",
            _payer_endpoint(endpoint("decline", upi.decline, mutating=False, authenticated=False)),
            methods=["POST"],
            name="upi_decline",
        ),
        Route(
            f"{base}/transactions/{{txn_id}}/refunds",
            endpoint("refund", refunds.create, mutating=True),
            methods=["POST"],
        ),
        Route(
            f"{base}/refunds/by_reference/{{reference:path}}",
            endpoint("lookup", refunds.by_reference, mutating=False),
            methods=["GET"],
        ),
        Route(f"{base}/refunds/{{refund_id}}", endpoint("retrieve", refunds.retrieve, mutating=False), methods=["GET"]),
    ]


def _settlement_routes(sb: Sandbox) -> list[BaseRoute]:
    def guard(request: Request, provider: str) -> Response | None:
        plan = sb.faults.request_plan(provider, "settlement")
        if plan.action == "outage":
            error = ApiError(503, "api_error", "provider_outage", f"{provider} is down", retryable=True)
            return error_response(error, {"Sandbox-Outage": "true"})
        try:
            authenticate(sb, provider, request)
        except ApiError as exc:
            return error_response(exc)
        return None

    def listing(provider: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if (blocked := guard(request, provider)) is not None:
                return blocked
            today = sb.now().date().isoformat()
            files = [
                {
                    "settlement_date": row["settlement_date"],
                    "batch_id": settlement.batch_id(provider, date.fromisoformat(row["settlement_date"])),
                    "lines": row["lines"],
                    "net": row["net"],
                    "url": f"/{provider}/settlements/{row['settlement_date']}.csv",
                }
                for row in sb.store.settlement_dates(provider)
                if row["settlement_date"] <= today
            ]
            return JSONResponse({"object": "list", "data": files})

        return endpoint

    def file(provider: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if (blocked := guard(request, provider)) is not None:
                return blocked
            try:
                day = date.fromisoformat(request.path_params["day"])
            except ValueError:
                return error_response(invalid("invalid_date", "expected /settlements/YYYY-MM-DD.csv", "day"))
            if day > sb.now().date():
                return error_response(not_found("settlement_not_ready", f"the {day} file is not produced yet"))
            return StreamingResponse(
                settlement.stream(sb, provider, day),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{settlement.batch_id(provider, day)}.csv"'},
            )

        return endpoint

    routes: list[BaseRoute] = []
    for provider in PROVIDERS:
        routes.append(Route(f"/{provider}/settlements", listing(provider), methods=["GET"]))
        routes.append(Route(f"/{provider}/settlements/{{day}}.csv", file(provider), methods=["GET"]))
    return routes


async def healthz(request: Request) -> Response:
    sb: Sandbox = request.app.state.sb
    return JSONResponse({"status": "ok", "now": sb.now_iso(), "providers": list(PROVIDERS)})


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings.from_env()
    sb = Sandbox(settings)
    control.load_env_faults(sb, settings.faults_json)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sb.webhooks.start()
        ticker = asyncio.create_task(scheduler.run_forever(sb))
        try:
            yield
        finally:
            ticker.cancel()
            await sb.webhooks.stop()
            sb.store.close()

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
    for provider in CARD_PROVIDERS:
        routes += _card_routes(sb, provider)
    routes += _upi_routes(sb)
    routes += _settlement_routes(sb)
    routes += control.routes()
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sb = sb
    # Outside Starlette's own middleware on purpose: ServerErrorMiddleware wraps ``send``, and lose_response
    # needs the server's original one to reach the connection.
    return RequestLog(app, sb)
