"""Helpers for the events and webhooks tests: a real HTTP receiver on loopback, outbox rows, captured tasks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.db import transaction

from payments.models import Merchant, OutboxMessage
from payments.services.merchants import merchant_create
from payments.services.outbox import outbox_command_add, outbox_event_add
from payments.services.webhook_endpoints import IssuedEndpoint, webhook_endpoint_create


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local webhook receiver. ``responses`` are served in order (then ``default``); each is a status code or
    ``(status, headers, delay_seconds)``."""

    url: str
    requests: list[Received] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)
    default: Any = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_response(self) -> tuple[int, dict[str, str], float]:
        with self.lock:
            spec = self.responses.pop(0) if self.responses else self.default
        if isinstance(spec, int):
            return spec, {}, 0.0
        return spec

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len({r.headers.get("Ledgerline-Event-Id") for r in self.requests}) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"receiver got {len(self.requests)} requests, expected {count} distinct events")


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Serves on 127.0.0.1 only, in a thread, for the duration of the block."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body, time.time()))
            status, headers, delay = state.next_response()
            if delay:
                time.sleep(delay)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            payload = f"status {status}".encode()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def merchant(name: str = "Acme") -> Merchant:
    created, _ = merchant_create(name=name, email=f"ops@{name.lower()}.test")
    return created


def endpoint(
    for_merchant: Merchant, url: str, events: list[str] | None = None, livemode: bool = False
) -> IssuedEndpoint:
    return webhook_endpoint_create(merchant=for_merchant, livemode=livemode, url=url, enabled_events=events or ["*"])


def add_events(
    for_merchant: Merchant, count: int, event_type: str = "payment.succeeded", livemode: bool = False
) -> list[OutboxMessage]:
    """Outbox event rows as a payment service would write them, committed."""
    with transaction.atomic():
        return [
            outbox_event_add(
                merchant_id=for_merchant.id,
                livemode=livemode,
                event_type=event_type,
                aggregate_type="payment",
                aggregate_id=f"pay_{i}",
                payload={"id": f"pay_{i}", "object": "payment", "amount": 1000 + i, "currency": "eur"},
            )
            for i in range(count)
        ]


def add_commands(count: int, queue: str = "") -> list[OutboxMessage]:
    with transaction.atomic():
        return [
            outbox_command_add(task_name="payments.execute_attempt", kwargs={"attempt_id": f"att_{i}"}, queue=queue)
            for i in range(count)
        ]


@dataclass
class SentTasks:
    """Celery ``send_task`` calls captured instead of going to the broker."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> None:
        if self.fail:
            raise ConnectionError("broker unavailable")
        with self.lock:
            self.calls.append({"name": name, "args": args, "kwargs": kwargs, **options})

    def named(self, name: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["name"] == name]

    @property
    def delivery_ids(self) -> list[str]:
        return [call["args"][0] for call in self.named("payments.webhook_deliver")]


def capture_tasks(monkeypatch: Any) -> SentTasks:
    from config.celery import app

    sent = SentTasks()
    monkeypatch.setattr(app, "send_task", sent)
    return sent
