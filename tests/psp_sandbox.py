"""The PSP sandbox as tests use it: a real ``python -m sandbox`` process on a free port, and a thin HTTP client.

Shared by the sandbox's own tests and the platform's connector and executor tests (one server per session).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]

# Small delays so time-dependent behaviour is quick; virtual delays are reached by advancing the clock anyway.
SERVER_ENV = {
    "SANDBOX_SEED": "7",
    "SANDBOX_UPI_AUTO_DELAY_SECONDS": "2",
    "SANDBOX_UPI_SLOW_DELAY_SECONDS": "120",
    "SANDBOX_UPI_LATE_SUCCESS_SECONDS": "60",
    "SANDBOX_REFUND_DELAY_SECONDS": "5",
    "SANDBOX_SCHEDULER_TICK_MS": "20",
    "SANDBOX_WEBHOOK_RETRY_BASE_MS": "50",
    "SANDBOX_WEBHOOK_MAX_ATTEMPTS": "4",
    "SANDBOX_WEBHOOK_TIMEOUT_MS": "2000",
    "SANDBOX_WEBHOOK_LATE_MS": "400",
    "SANDBOX_WEBHOOK_REORDER_HOLD_MS": "1500",
    "SANDBOX_WEBHOOK_DUPLICATE_DELAY_MS": "20",
    "SANDBOX_HANG_SECONDS": "30",
}
PROVIDERS = ("card_a", "card_b", "card_c", "upi")
KEYS = {name: f"sandbox_{name}_key" for name in PROVIDERS}
SECRETS = {name: f"whsec_sandbox_{name}" for name in PROVIDERS}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    log: Path
    proc: subprocess.Popen[bytes]


def start_server(log: Path, extra_env: dict[str, str] | None = None) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(SERVER_ENV)
    env.update(extra_env or {})
    env["PYTHONUNBUFFERED"] = "1"
    handle = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return Server(url, log, proc)
        except httpx.HTTPError:
            time.sleep(0.05)
    stop_server(Server(url, log, proc))
    raise RuntimeError(f"sandbox did not start:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=5)


class Client:
    """Thin helper over httpx: provider calls with the right key, control calls, common card/UPI steps."""

    def __init__(self, server: Server) -> None:
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=5)
        self._n = 0

    def ref(self, prefix: str = "pay") -> str:
        self._n += 1
        return f"{prefix}_{time.monotonic_ns()}_{self._n}"

    def call(self, provider: str, method: str, path: str, json_body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {KEYS[provider]}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"/{provider}/v1{path}", json=json_body, headers=headers, **kwargs)

    def post(self, provider: str, path: str, body: Any = None, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return self.call(provider, "POST", path, body if body is not None else {}, headers=headers, **kw)

    def get(self, provider: str, path: str, **kw: Any) -> httpx.Response:
        return self.call(provider, "GET", path, **kw)

    def control(self, path: str, body: Any = None) -> Any:
        response = self.http.post(f"/_control{path}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def control_get(self, path: str, **params: Any) -> Any:
        response = self.http.get(f"/_control{path}", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def records(self, provider: str | None = None, reference: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"provider": provider, "reference": reference}.items() if v}
        return list(self.control_get("/records", **params)["data"])

    def advance(self, seconds: float) -> dict[str, Any]:
        return dict(self.control("/clock", {"advance_seconds": seconds}))

    def token(self, number: str = "4242424242424242", provider: str = "card_a", cvc: str = "123") -> str:
        response = self.post(provider, "/tokens", {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": cvc})
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def charge(
        self,
        number: str = "4242424242424242",
        amount: int = 1000,
        *,
        capture: bool = True,
        provider: str = "card_a",
        reference: str | None = None,
        key: str | None = None,
    ) -> httpx.Response:
        body = {
            "token": self.token(number, provider),
            "amount": amount,
            "currency": "usd",
            "reference": reference or self.ref(),
            "capture": capture,
        }
        return self.post(provider, "/charges", body, key=key)

    def upi(self, **body: Any) -> dict[str, Any]:
        body.setdefault("reference", self.ref("upi"))
        body.setdefault("amount", 12345)
        response = self.post("upi", "/transactions", body)
        assert response.status_code == 200, response.text
        return dict(response.json())


@dataclass
class Receiver:
    """A tiny local webhook endpoint that records every delivery and can be told to fail the first ones."""

    url: str
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                snapshot = list(self.deliveries)
            if predicate(snapshot):
                return snapshot
            time.sleep(0.02)
        raise AssertionError(f"condition not met; deliveries: {[d['event']['type'] for d in self.deliveries]}")

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        with self.lock:
            return [d for d in self.deliveries if d["event"]["type"] == type_]


@contextmanager
def receiving(client: Client) -> Iterator[Receiver]:
    """Points the sandbox's webhooks at a local recording endpoint for the duration of the block."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook = state["receiver"]
            with hook.lock:
                failing = hook.fail_first > 0
                if failing:
                    hook.fail_first -= 1
                else:
                    hook.deliveries.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "raw": raw,
                            "event": json.loads(raw),
                        }
                    )
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # silence per-request stderr lines
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    hook = Receiver(url=f"http://127.0.0.1:{port}")
    state["receiver"] = hook
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    client.control("/webhooks", {"template": f"http://127.0.0.1:{port}/psp/webhooks/{{provider}}"})
    try:
        yield hook
    finally:
        httpd.shutdown()
        httpd.server_close()
