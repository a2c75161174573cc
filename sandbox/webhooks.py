"""Outgoing provider webhooks: signed, retried on non-2xx, and bent by the webhook fault modes.

Signature (same scheme for every provider, each with its own secret)::

    Sandbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

``t`` is real wall time at the moment of *each attempt* (not the virtual clock), so receivers can keep a
replay window even while tests move the sandbox clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

import httpx

from .config import PROVIDERS

if TYPE_CHECKING:
    from .core import Sandbox


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """Reference verifier (what a connector should do), used by the tests."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return any(
        hmac.compare_digest(expected, value)
        for key, value in (item.split("=", 1) for item in header.split(",") if "=" in item)
        if key == "v1"
    )


class WebhookDispatcher:
    """One ordered worker per provider sends first attempts in queue order; retries run on their own timers."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.template = sb.settings.webhook_url_template
        self.urls: dict[str, str] = {}
        self._queues: dict[str, asyncio.Queue[tuple[dict[str, Any], int]]] = {}
        self._held: dict[str, list[dict[str, Any]]] = {p: [] for p in PROVIDERS}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._workers: list[asyncio.Task[Any]] = []
        self._client: httpx.AsyncClient | None = None

    # --- configuration --------------------------------------------------------------------------------------

    def url_for(self, provider: str) -> str | None:
        if provider in self.urls:
            return self.urls[provider]
        if self.template:
            return self.template.replace("{provider}", provider)
        return None

    def config(self) -> dict[str, Any]:
        return {"template": self.template, "urls": {p: self.url_for(p) for p in PROVIDERS}}

    def reset_faults(self) -> None:
        for provider, held in self._held.items():
            # Releasing rather than discarding keeps "at least once" true across a reset.
            for event in held:
                self._enqueue(provider, event, copy=1)
            held.clear()

    def discard_pending(self) -> None:
        """On a full state reset: forget queued, held, late and retrying deliveries of the old world."""
        for task in list(self._tasks):
            task.cancel()
        for queue in self._queues.values():
            while not queue.empty():
                queue.get_nowait()
        for held in self._held.values():
            held.clear()

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._client = httpx.AsyncClient()
        for provider in PROVIDERS:
            self._queues[provider] = asyncio.Queue()
            self._workers.append(asyncio.create_task(self._worker(provider)))

    async def stop(self) -> None:
        for task in [*self._workers, *self._tasks]:
            task.cancel()
        if self._client is not None:
            await self._client.aclose()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _later(self, delay_ms: float, callback: Any) -> None:
        async def wait_then() -> None:
            await asyncio.sleep(delay_ms / 1000)
            callback()

        self._spawn(wait_then())

    # --- emitting -------------------------------------------------------------------------------------------

    def emit(self, provider: str, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": self.sb.new_id("evt"),
            "object": "event",
            "type": type_,
            "provider": provider,
            "created": self.sb.now_iso(),
            "livemode": False,
            "data": {"object": obj},
        }
        self.sb.store.add_event(event)
        plan = self.sb.faults.webhook_plan(provider, type_)
        if "drop" in plan:
            self.sb.store.add_delivery(event["id"], {"copy": 1, "attempt": 0, "result": "dropped_by_fault"})
            return event
        # ``copies`` is the total number of deliveries of the same event (same id), default 2.
        copies = max(int(plan["duplicate"].get("copies", 2)), 2) if "duplicate" in plan else 1
        if "late" in plan:
            delay = int(plan["late"].get("delay_ms") or self.sb.tunables.webhook_late_ms)
            self._later(delay, lambda: self._send_copies(provider, event, copies))
        elif "reorder" in plan:
            self._held[provider].append(event)
            # Released after the provider's next event, or after a bounded hold so it is never lost.
            self._later(self.sb.tunables.webhook_reorder_hold_ms, lambda: self._release_one(provider, event))
        else:
            self._send_copies(provider, event, copies)
        return event

    def _send_copies(self, provider: str, event: dict[str, Any], copies: int) -> None:
        self._enqueue(provider, event, copy=1)
        for held in self._held[provider]:
            self._enqueue(provider, held, copy=1)
        self._held[provider].clear()
        for copy in range(2, copies + 1):
            self._later(
                self.sb.tunables.webhook_duplicate_delay_ms * (copy - 1),
                lambda copy=copy: self._enqueue(provider, event, copy=copy),
            )

    def _release_one(self, provider: str, event: dict[str, Any]) -> None:
        held = self._held[provider]
        if event in held:
            held.remove(event)
            self._enqueue(provider, event, copy=1)

    def _enqueue(self, provider: str, event: dict[str, Any], copy: int) -> None:
        queue = self._queues.get(provider)
        if queue is not None:
            queue.put_nowait((event, copy))

    def resend(self, event_id: str) -> bool:
        event = self.sb.store.get_event(event_id)
        if event is None:
            return False
        self._enqueue(event["provider"], event, copy=0)
        return True

    # --- delivery -------------------------------------------------------------------------------------------

    async def _worker(self, provider: str) -> None:
        queue = self._queues[provider]
        while True:
            event, copy = await queue.get()
            try:
                await self._attempt(provider, event, copy, 1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the worker must survive anything a receiver does
                self.sb.store.add_delivery(event["id"], {"copy": copy, "attempt": 1, "error": repr(exc)})

    async def _attempt(self, provider: str, event: dict[str, Any], copy: int, attempt: int) -> None:
        url = self.url_for(provider)
        if not url or self._client is None:
            self.sb.store.add_delivery(event["id"], {"copy": copy, "attempt": attempt, "result": "no_endpoint"})
            return
        body = json.dumps(event, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "Sandbox-Signature": sign(self.sb.settings.webhook_secrets[provider], timestamp, body),
            "Sandbox-Event-Id": event["id"],
            "Sandbox-Event-Type": event["type"],
            "Sandbox-Delivery-Attempt": str(attempt),
            "User-Agent": "ledgerline-psp-sandbox",
        }
        outcome: dict[str, Any] = {"copy": copy, "attempt": attempt, "url": url, "at": self.sb.now_iso()}
        ok = False
        try:
            response = await self._client.post(
                url, content=body, headers=headers, timeout=self.sb.tunables.webhook_timeout_ms / 1000
            )
            outcome["status"] = response.status_code
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            outcome["error"] = type(exc).__name__
        self.sb.store.add_delivery(event["id"], outcome)
        if not ok and attempt < self.sb.tunables.webhook_max_attempts:
            delay = self.sb.tunables.webhook_retry_base_ms * 2 ** (attempt - 1)
            self._later(delay, lambda: self._spawn(self._attempt(provider, event, copy, attempt + 1)))
