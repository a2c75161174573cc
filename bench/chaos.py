"""A seeded chaos run: the whole platform on loopback, load from an asyncio client, faults at random moments, then a
drain and the independent auditor (``manage.py audit``).

    .venv/bin/python bench/chaos.py --seed 1 --minutes 1      # or: make chaos SEED=1 MINUTES=1

Everything it starts is its own: a PostgreSQL cluster (``initdb`` in a temporary directory, its own port), a Redis
(its own port), the PSP sandbox, and the platform's processes as ``make run`` starts them (web, a worker for the
default and provider queues, the webhooks worker, beat, the outbox relay), so it may kill and restart any of them.

Traffic: card payments (approved, declined, charged back by the sandbox's chargeback card), manual captures and
cancels, UPI payments (approved, declined, expired, deemed late successes), refunds and payouts; a request that
times out or gets a 5xx is retried with the same Idempotency-Key, as a careful client does. Faults: SIGKILL of
web / worker / webhooks / relay / beat, PostgreSQL restarts (fast and crash), Redis restarts (clean and SIGKILL),
and the sandbox's switches (outages, latency, 5xx, hangs, lost responses, duplicate / late / out-of-order webhooks,
UPI late successes, pending and failed refunds).

Seeded: the sequence of operations and the schedule of faults (their kinds, parameters and moments) come from
``--seed`` alone, so a failing run can be replayed (what the operating system does between them cannot be).
Exit status: 0 when the auditor finds nothing, 1 otherwise; the logs of every process stay in the printed folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROVIDERS = ("card_a", "card_b", "upi")
CARD_OK, CARD_DECLINED, CARD_NO_FUNDS, CARD_CHARGEBACK = (
    "4242424242424242",
    "4000000000000002",
    "4000000000009995",
    "4000000000000259",
)

# Operation kinds and their weights in the traffic mix.
OPERATIONS = {
    "card_approved": 30,
    "card_declined": 6,
    "card_chargeback": 3,
    "card_manual": 10,
    "manual_follow_up": 10,
    "upi_approved": 10,
    "upi_declined": 3,
    "upi_expired": 2,
    "upi_deemed": 2,
    "refund": 14,
    "payout": 4,
    "read_payment": 6,
}
# Fault kinds and their weights, in two streams: the processes and services (each costs seconds of downtime and a
# restart on two cores), and the provider's switches (cheap, many).
INFRA_FAULTS = {
    "kill_web": 3,
    "kill_worker": 3,
    "kill_webhooks": 2,
    "kill_relay": 3,
    "kill_beat": 2,
    "restart_postgres": 2,
    "restart_redis": 2,
}
PROVIDER_FAULTS = {
    "provider_outage": 3,
    "provider_latency": 4,
    "provider_5xx": 6,
    "provider_hang": 2,
    "lost_response": 10,
    "duplicate_webhook": 6,
    "late_webhook": 5,
    "reordered_webhook": 5,
    "upi_late_success": 3,
    "refund_pending": 3,
    "refund_failed": 2,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


# --- the plan: everything random is drawn here, from the seed -----------------------------------------------------
@dataclass(frozen=True)
class Operation:
    index: int
    kind: str
    merchant: int
    amount: int
    pick: float  # which earlier payment a follow-up, refund or read acts on
    choice: float  # a second draw: capture in part or in full, cancel, refund in part


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the load starts
    kind: str
    provider: str
    count: int
    seconds: float
    mode: str
    operation: str  # the provider operation a rule hits: the money-moving ones, and the rest ("*") now and then


# The operations a provider fault rule aims at, per kind of provider ("*": whichever call comes next).
CARD_OPERATIONS = ("authorize", "authorize", "capture", "void", "refund", "lookup", "*")
UPI_OPERATIONS = ("create", "create", "refund", "lookup", "*")


def operations_plan(seed: int, merchants: int, limit: int = 1_000_000) -> list[Operation]:
    rng = random.Random(f"traffic-{seed}")
    return [
        Operation(
            i, weighted(rng, OPERATIONS), rng.randrange(merchants), rng.randint(100, 50_000), rng.random(), rng.random()
        )
        for i in range(limit)
    ]


def faults_plan(seed: int, duration: float, interval: float, infra_interval: float) -> list[Fault]:
    rng = random.Random(f"faults-{seed}")
    faults = []
    for weights, mean in ((INFRA_FAULTS, infra_interval), (PROVIDER_FAULTS, interval)):
        at = rng.expovariate(1 / mean)
        while at < duration:
            kind = weighted(rng, weights)
            provider = "upi" if kind == "upi_late_success" else rng.choice(PROVIDERS)
            mode = rng.choice(("fast", "immediate")) if kind == "restart_postgres" else rng.choice(("TERM", "KILL"))
            operation = rng.choice(UPI_OPERATIONS if provider == "upi" else CARD_OPERATIONS)
            count, seconds = rng.randint(1, 3), round(rng.uniform(1, 6), 2)
            faults.append(Fault(round(at, 3), kind, provider, count, seconds, mode, operation))
            at += rng.expovariate(1 / mean)
    return sorted(faults, key=lambda fault: fault.at)


# --- the services and processes it owns --------------------------------------------------------------------------
def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not versions:
        raise SystemExit(f"chaos: {name} not found (install PostgreSQL)")
    return str(versions[-1])


class PrivatePostgres:
    """One cluster of its own. ``settings`` go to its postgresql.conf when ``initdb`` makes it (bench/multihost.py
    asks for WAL archiving; a replica made by ``pg_basebackup`` into ``folder / name`` copies them)."""

    def __init__(self, folder: Path, name: str = "pg", settings: dict[str, str] | None = None) -> None:
        self.folder, self.port = folder / name, free_port()
        self.log = folder / "logs" / ("postgres.log" if name == "pg" else f"postgres-{name}.log")
        self.settings = settings or {}

    def start(self) -> None:
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            if os.geteuid() == 0:
                shutil.chown(self.folder, "postgres", "postgres")
                shutil.chown(self.log.parent, "postgres", "postgres")
            subprocess.run(
                _as_postgres(
                    [_pg_bin("initdb"), "-D", str(self.folder), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
                ),
                check=True,
                capture_output=True,
            )
            with (self.folder / "postgresql.conf").open("a") as conf:
                conf.writelines(f"{name} = '{value}'\n" for name, value in self.settings.items())
        self._ctl(
            "start",
            "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=300 -c shared_buffers=64MB",
            "-l",
            str(self.log),
        )

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(self.folder), "-w", "-t", "60", *args]),
            check=True,
            capture_output=True,
        )

    def restart(self, mode: str) -> None:
        # "immediate" is a crash: no checkpoint, recovery from the WAL on the way up.
        self._ctl("stop", "-m", mode)
        self.start()

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("stop", "-m", "fast")

    def superuser(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True)

    def create_roles(self) -> None:
        with self.superuser() as conn:
            conn.execute("CREATE ROLE ledgerline_owner LOGIN CREATEDB PASSWORD 'ledgerline_owner'")
            conn.execute("CREATE ROLE ledgerline_app LOGIN PASSWORD 'ledgerline_app'")
            conn.execute("CREATE DATABASE ledgerline OWNER ledgerline_owner")

    def url(self, role: str) -> str:
        return f"postgres://{role}:{role}@127.0.0.1:{self.port}/ledgerline"


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.args, self.env = name, args, env
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.alive:
            # Already running (the drain starts whatever is not): a second incarnation would orphan the first.
            return
        handle = self.log.open("ab")
        # Its own process group, so a kill reaches gunicorn's and celery's children too.
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is None:
            return
        # The whole group even when its leader is already gone: a gunicorn master or celery parent that died on its
        # own leaves its children running in the group, and they outlived the run.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Its group id is free for reuse from now on: never signal it again.
        self.proc = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def wait_for(what: str, ready: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.2)
    raise SystemExit(f"chaos: {what} did not come up within {timeout:.0f}s")


@dataclass
class Platform:
    folder: Path
    seed: int
    postgres: PrivatePostgres = field(init=False)
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    sandbox_port: int = field(default_factory=free_port)
    processes: dict[str, Process] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.folder / "logs").mkdir(parents=True, exist_ok=True)
        self.postgres = PrivatePostgres(self.folder)

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def start_redis(self) -> None:
        (self.folder / "redis").mkdir(exist_ok=True)
        redis = Process(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--dir",
                str(self.folder / "redis"),
            ],
            dict(os.environ),
            self.logs,
        )
        self.processes["redis"] = redis
        redis.start()
        wait_for("redis", lambda: socket.create_connection(("127.0.0.1", self.redis_port), timeout=1).close() is None)

    def start_services(self) -> None:
        self.postgres.start()
        self.postgres.create_roles()
        self.start_redis()

    def platform_env(self) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SANDBOX_", "PSP_", "DATABASE", "REDIS", "CELERY_"))
        }
        return {
            **base,
            "PYTHONUNBUFFERED": "1",
            "LEDGERLINE_ENV": "test",
            "LEDGERLINE_VAR_DIR": str(self.folder / "var"),
            "DATABASE_URL": self.postgres.url("ledgerline_app"),
            "DATABASE_OWNER_URL": self.postgres.url("ledgerline_owner"),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "SANDBOX_URL": self.sandbox_url,
            # Short provider timeouts and a quick janitor, so unknown outcomes are settled within the run.
            "PSP_READ_TIMEOUT": "3",
            "PSP_CONNECT_TIMEOUT": "1",
            "PSP_ATTEMPT_STALE_SECONDS": "15",
            "PSP_JANITOR_INTERVAL_SECONDS": "2",
            "PSP_ACTION_POLL_SECONDS": "5",
            # A chargeback that overtook the news of its capture is applied by the sweep once the capture is known.
            "PROVIDER_EVENT_RETRY_SECONDS": "5",
            "PROVIDER_EVENT_SWEEP_SECONDS": "3",
            "BALANCE_PENDING_SECONDS": "20",
            "PAYOUT_TRANSIT_SECONDS": "10",
            "LEDGERLINE_API_RATE": "10000/s",
            "WEB_CONCURRENCY": "2",
            "GUNICORN_THREADS": "4",
        }

    def env_for(self, name: str) -> dict[str, str]:
        """The environment of one of the platform's processes (bench/multihost.py gives each host its own)."""
        return self.env

    def setup(self) -> None:
        self.start_services()
        self.env = self.platform_env()
        (self.folder / "var").mkdir(exist_ok=True)
        self.manage("migrate", "--database", "owner", "--noinput", "-v", "0")
        sandbox_env = {
            # uvicorn reads WEB_CONCURRENCY too, and refuses workers for an application object: not the web's.
            **{k: v for k, v in self.env.items() if k not in ("WEB_CONCURRENCY", "GUNICORN_THREADS")},
            "SANDBOX_SEED": str(self.seed),
            "SANDBOX_WEBHOOK_URL": f"{self.web_url}/psp/webhooks/{{provider}}",
            # A real provider retries its webhooks for days; these retries outlast the longest outage here.
            "SANDBOX_WEBHOOK_MAX_ATTEMPTS": "14",
            "SANDBOX_WEBHOOK_RETRY_BASE_MS": "500",
            "SANDBOX_WEBHOOK_TIMEOUT_MS": "5000",
            "SANDBOX_WEBHOOK_LATE_MS": "3000",
            "SANDBOX_WEBHOOK_REORDER_HOLD_MS": "2000",
            "SANDBOX_UPI_AUTO_DELAY_SECONDS": "3",
            "SANDBOX_UPI_LATE_SUCCESS_SECONDS": "60",
            "SANDBOX_REFUND_DELAY_SECONDS": "5",
            "SANDBOX_HANG_SECONDS": "6",
        }
        self.add(
            "sandbox",
            [
                sys.executable,
                "-m",
                "sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.sandbox_port),
                "--db",
                str(self.folder / "sandbox.sqlite3"),
            ],
            sandbox_env,
        )
        for name, command in self.platform_commands().items():
            self.add(name, command, self.env_for(name))
        for process in self.processes.values():
            process.start()
        wait_for("sandbox", lambda: httpx.get(f"{self.sandbox_url}/healthz", timeout=1).status_code == 200)
        wait_for("web", lambda: httpx.get(f"{self.web_url}/healthz", timeout=1).status_code == 200)

    def platform_commands(self) -> dict[str, list[str]]:
        """``make run``'s commands (core/management/commands/run_platform.py), with one worker for the default and
        every provider queue instead of one per queue: two cores cannot carry six Celery pools."""
        script = (
            "import json; from django.conf import settings; "
            "from core.management.commands.run_platform import platform_processes; "
            f"print(json.dumps([platform_processes(host='127.0.0.1', port={self.web_port}), "
            "sorted({str(c.get('queue') or 'psp.' + n) for n, c in settings.PSP_CONNECTORS.items()})]))"
        )
        out = self.manage("shell", "-c", script)
        commands, queues = json.loads(out.strip().splitlines()[-1])
        celery = str(BIN / "celery")
        chosen = {name: shlex.split(commands[name]) for name in ("web", "beat", "relay", "webhooks")}
        chosen["beat"] += ["--pidfile", ""]
        chosen["worker"] = [
            celery,
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "3",
            "--queues",
            ",".join(["celery", *queues]),
            "--hostname",
            "chaos-worker@%h",
        ]
        return chosen

    def add(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.processes[name] = Process(name, args, env, self.logs)

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600
        )
        if done.returncode not in (0, 1) or (done.returncode == 1 and args[0] != "audit"):
            raise SystemExit(f"chaos: manage.py {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def merchant(self, n: int) -> tuple[str, str]:
        out = self.manage("create_merchant", f"Chaos {n}", "--email", f"chaos{n}@example.test")
        values = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        return values["merchant_id"], values["secret_key"]

    def stop(self) -> None:
        # Everything is thrown away (or kept only to be read): no need for anyone's graceful shutdown.
        for process in self.processes.values():
            process.kill(signal.SIGKILL)
        self.postgres.stop()


# --- the webhook receiver: the merchants' endpoint, up from the first request to the audit -------------------
class _Hook(BaseHTTPRequestHandler):
    received: Counter[str] = Counter()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Hook.received["webhooks_received"] += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        return


def receiver() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the load ----------------------------------------------------------------------------------------------------
@dataclass
class Load:
    seed: int
    api: httpx.AsyncClient
    secrets: list[str]
    stats: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    payments: list[tuple[int, str]] = field(default_factory=list)  # (merchant, payment id) the client may refund
    manual: list[tuple[int, str]] = field(default_factory=list)  # manual-capture payments not followed up yet

    async def call(
        self, merchant: int, method: str, path: str, body: dict[str, Any] | None, key: str | None
    ) -> httpx.Response | None:
        """One request as a careful client sends it: a timeout, a dropped connection, a 5xx, a 429 or a
        409 "key in use" is retried, with the same Idempotency-Key, after a growing pause."""
        headers = {"Authorization": f"Bearer {self.secrets[merchant]}"}
        if key:
            headers["Idempotency-Key"] = key
        for attempt in range(8):
            reason = ""
            try:
                response = await self.api.request(method, path, json=body, headers=headers, timeout=8)
            except httpx.TimeoutException:
                reason = "timeout"
            except httpx.TransportError:
                reason = "connection"
            else:
                code = response.json().get("error", {}).get("code", "") if response.status_code == 409 else ""
                if response.status_code >= 500 or response.status_code == 429 or code == "idempotency_key_in_use":
                    reason = f"http_{response.status_code}"
                else:
                    return response
            if method == "GET" or key:
                self.retries[reason] += 1
                await asyncio.sleep(min(0.25 * 2**attempt, 4))
            else:
                return None
        self.stats["gave_up"] += 1
        return None

    async def run(self, op: Operation) -> None:
        key = f"chaos-{self.seed}-{op.index}"
        meta = {"idempotency_key": key}
        kind = op.kind
        if kind.startswith("card_"):
            number = {
                "card_declined": CARD_DECLINED if op.choice < 0.7 else CARD_NO_FUNDS,
                "card_chargeback": CARD_CHARGEBACK,
            }.get(kind, CARD_OK)
            body = {
                "amount": op.amount,
                "currency": "usd",
                "confirm": True,
                "metadata": meta,
                "capture_method": "manual" if kind == "card_manual" else "automatic",
                "payment_method": {
                    "type": "card",
                    "card": {"number": number, "exp_month": 12, "exp_year": 2039, "cvc": "123"},
                },
            }
            response = await self.call(op.merchant, "POST", "/v1/payments", body, key)
            if response is not None and response.status_code == 200:
                target = self.manual if kind == "card_manual" else self.payments
                target.append((op.merchant, response.json()["id"]))
        elif kind.startswith("upi_"):
            vpa = {
                "upi_approved": "success@upi",
                "upi_declined": "failure@upi",
                "upi_expired": "expire@upi",
                "upi_deemed": "deemed@upi",
            }[kind]
            body = {
                "amount": op.amount,
                "currency": "inr",
                "confirm": True,
                "metadata": {**meta, "sandbox_payer_vpa": vpa},
                "payment_method": {"type": "upi", "upi": {"flow": "intent", "expires_in": 300}},
            }
            response = await self.call(op.merchant, "POST", "/v1/payments", body, key)
            if response is not None and response.status_code == 200 and kind == "upi_approved":
                self.payments.append((op.merchant, response.json()["id"]))
        elif kind == "manual_follow_up" and self.manual:
            merchant, payment_id = self.manual.pop(int(op.pick * len(self.manual)))
            response = await self.call(merchant, "GET", f"/v1/payments/{payment_id}", None, None)
            if response is None or response.json().get("status") != "requires_capture":
                if response is not None and response.json().get("status") == "processing":
                    self.manual.append((merchant, payment_id))
                self.stats["follow_up_not_ready"] += 1
                return
            amount = int(response.json()["amount"])
            if op.choice < 0.25:
                response = await self.call(merchant, "POST", f"/v1/payments/{payment_id}/cancel", {}, key)
                kind = "manual_cancel"
            else:
                part = amount if op.choice < 0.7 else max(50, int(amount * op.choice / 2))
                response = await self.call(
                    merchant, "POST", f"/v1/payments/{payment_id}/capture", {"amount_to_capture": part}, key
                )
                kind = "manual_capture"
                if response is not None and response.status_code == 200:
                    self.payments.append((merchant, payment_id))
        elif kind == "refund" and self.payments:
            merchant, payment_id = self.payments[int(op.pick * len(self.payments))]
            body = {"payment": payment_id, "metadata": meta}
            if op.choice < 0.6:
                body["amount"] = max(1, int(op.amount * op.choice / 4))
            response = await self.call(merchant, "POST", "/v1/refunds", body, key)
        elif kind == "payout":
            body = {"amount": max(1, op.amount // 20), "currency": "usd", "metadata": meta}
            response = await self.call(op.merchant, "POST", "/v1/payouts", body, key)
        elif kind == "read_payment" and self.payments:
            merchant, payment_id = self.payments[int(op.pick * len(self.payments))]
            response = await self.call(merchant, "GET", f"/v1/payments/{payment_id}", None, None)
        else:
            return
        self.stats[kind] += 1
        self.outcomes[f"{response.status_code // 100}xx" if response is not None else "gave_up"] += 1


# --- the faults --------------------------------------------------------------------------------------------------
class Injector:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.done: Counter[str] = Counter()
        self.sandbox = httpx.AsyncClient(base_url=platform.sandbox_url, timeout=10)
        # One fault at a time per process or service: two restarts of PostgreSQL that overlapped made one `pg_ctl
        # start` fail against the other's server, and overlapping kills orphaned a process.
        self.busy: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def control(self, path: str, body: dict[str, Any]) -> None:
        response = await self.sandbox.post(f"/_control{path}", json=body)
        response.raise_for_status()

    async def rule(self, fault: Fault, operation: str, mode: str, **params: Any) -> None:
        await self.control(
            "/faults/next",
            {"provider": fault.provider, "operation": operation, "mode": mode, "count": fault.count, **params},
        )

    async def inject(self, fault: Fault) -> None:
        if fault.kind.startswith(("kill_", "restart_")):
            async with self.busy[fault.kind.removeprefix("kill_").removeprefix("restart_")]:
                await self._inject(fault)
        else:
            await self._inject(fault)

    async def _inject(self, fault: Fault) -> None:
        kind, provider = fault.kind, fault.provider
        if kind.startswith("kill_"):
            process = self.platform.processes[kind.removeprefix("kill_")]
            await asyncio.to_thread(process.kill, signal.SIGKILL)
            await asyncio.sleep(fault.seconds / 3)
            process.start()
        elif kind == "restart_postgres":
            await asyncio.to_thread(self.platform.postgres.restart, fault.mode)
        elif kind == "restart_redis":
            redis = self.platform.processes["redis"]
            await asyncio.to_thread(redis.kill, signal.SIGKILL if fault.mode == "KILL" else signal.SIGTERM)
            redis.start()
        elif kind == "provider_outage":
            await self.control("/faults", {"provider": provider, "outage": True})
            await asyncio.sleep(fault.seconds)
            await self.control("/faults", {"provider": provider, "outage": False})
        elif kind == "provider_latency":
            await self.control("/faults", {"provider": provider, "latency_ms": int(fault.seconds * 300)})
            await asyncio.sleep(fault.seconds * 2)
            await self.control("/faults", {"provider": provider, "latency_ms": 0})
        elif kind == "provider_5xx":
            await self.rule(fault, fault.operation, "error", status=503)
        elif kind == "provider_hang":
            await self.rule(fault, fault.operation, "timeout", seconds=4, apply=fault.mode == "KILL")
        elif kind == "lost_response":
            await self.rule(fault, fault.operation, "lose_response")
        elif kind in ("duplicate_webhook", "late_webhook", "reordered_webhook"):
            mode = {"duplicate_webhook": "duplicate", "late_webhook": "late", "reordered_webhook": "reorder"}[kind]
            await self.rule(fault, "webhook", mode)
        elif kind == "upi_late_success":
            await self.rule(fault, "create", "late_success")
        elif kind in ("refund_pending", "refund_failed"):
            await self.rule(fault, "refund", "refund_pending" if kind == "refund_pending" else "refund_fail")
        self.done[kind] += 1

    async def run(self, plan: list[Fault], started: float) -> None:
        tasks = []
        for fault in plan:
            await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
            # Process and infrastructure faults take seconds; the schedule does not wait for them.
            tasks.append(asyncio.create_task(self._safely(fault)))
        await asyncio.gather(*tasks)

    async def _safely(self, fault: Fault) -> None:
        try:
            await self.inject(fault)
        except Exception as exc:  # a fault that could not be injected is reported, not fatal
            self.done[f"failed_to_inject:{fault.kind}"] += 1
            print(f"chaos: {fault.kind} at {fault.at}s: {type(exc).__name__}: {exc}", file=sys.stderr)


# --- drain and audit ---------------------------------------------------------------------------------------------
OPEN_WORK = """
    SELECT (SELECT COUNT(*) FROM payments_paymentattempt WHERE outcome IN ('pending', 'unknown')),
           (SELECT COUNT(*) FROM payments_outboxmessage WHERE published_at IS NULL),
           (SELECT COUNT(*) FROM payments_webhookdelivery WHERE status = 'pending'),
           (SELECT COUNT(*) FROM payments_payment WHERE status IN ('processing', 'requires_action')),
           (SELECT COUNT(*) FROM payments_refund WHERE status = 'pending'),
           (SELECT COUNT(*) FROM payments_providerevent WHERE processed_at IS NULL)
"""
# Waiting out the janitor's schedule (15 s, 1 min, 5 min …, and the late-success watch of failed UPI attempts) is
# not what is being tested: every check due later than the janitor's own claim window is made due now. (Not the
# ones within it: the janitor pushes what it hands out 15 s ahead, and undoing that floods the queues with copies.)
DUE_NOW = """
    UPDATE payments_paymentattempt SET next_check_at = now() WHERE next_check_at > now() + interval '20 seconds';
    UPDATE payments_webhookdelivery SET next_attempt_at = now()
     WHERE status = 'pending' AND next_attempt_at > now() + interval '2 seconds';
    UPDATE payments_outboxmessage SET available_at = now() WHERE published_at IS NULL AND available_at > now();
"""


def drain(platform: Platform, seconds: float) -> dict[str, int]:
    for process in platform.processes.values():
        process.start()
    wait_for("web", lambda: httpx.get(f"{platform.web_url}/healthz", timeout=1).status_code == 200)
    httpx.post(f"{platform.sandbox_url}/_control/reset", json={}, timeout=10).raise_for_status()
    deadline, left = time.monotonic() + seconds, {}
    quiet = 0
    while time.monotonic() < deadline:
        # UPI payers decide, pending refunds settle and expiries pass on the sandbox's clock.
        httpx.post(f"{platform.sandbox_url}/_control/clock", json={"advance_seconds": 120}, timeout=30)
        with psycopg.connect(platform.postgres.url("ledgerline_owner"), autocommit=True) as conn:
            conn.execute(DUE_NOW)
            row = conn.execute(OPEN_WORK).fetchone()
        left = dict(
            zip(
                (
                    "open_attempts",
                    "unpublished_outbox",
                    "pending_deliveries",
                    "payments_in_flight",
                    "refunds_pending",
                    "provider_events_unapplied",
                ),
                row or (),
                strict=False,
            )
        )
        quiet = quiet + 1 if not any(left.values()) else 0
        if quiet >= 2:
            break
        time.sleep(2)
    return left


def audit(platform: Platform, merchants: list[tuple[str, str]]) -> dict[str, Any]:
    keys = [f"--api-key={merchant_id}={secret}" for merchant_id, secret in merchants]
    out = platform.manage(
        "audit", "--json", "--grace", "0", "--sandbox-url", platform.sandbox_url, "--api-url", platform.web_url, *keys
    )
    return dict(json.loads(out))


def sandbox_faults_fired(platform: Platform) -> Counter[str]:
    fired: Counter[str] = Counter()
    for line in (platform.logs / "sandbox.log").read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            fault = json.loads(line).get("fault") if line.startswith("{") else None
            if fault:
                fired[str(fault)] += 1
    return fired


async def load(
    platform: Platform, args: argparse.Namespace, merchants: list[tuple[str, str]], hooks: int
) -> tuple[Load, Injector]:
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(base_url=platform.web_url, limits=limits) as api:
        for _, secret in merchants:
            response = await api.post(
                "/v1/webhook_endpoints",
                headers={"Authorization": f"Bearer {secret}"},
                json={"url": f"http://127.0.0.1:{hooks}/hooks", "enabled_events": ["*"]},
            )
            response.raise_for_status()
        traffic = Load(args.seed, api, [secret for _, secret in merchants])
        injector = Injector(platform)
        duration = args.minutes * 60
        plan = faults_plan(args.seed, duration, args.fault_interval, args.infra_interval)
        ops = iter(operations_plan(args.seed, len(merchants)))
        started = time.monotonic()

        issued = itertools.count()

        async def client() -> None:
            while time.monotonic() - started < duration:
                if args.rate > 0:
                    # Faults, not overload, are what this run is about: the API takes payments far faster than two
                    # cores' workers finish them (no provider call in the request path), and an unbounded load
                    # leaves a backlog the drain cannot finish, which the auditor would rightly call unfinished.
                    due = started + next(issued) / args.rate
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    if time.monotonic() - started >= duration:
                        break
                await traffic.run(next(ops))

        async def clock() -> None:
            # The sandbox's clock runs ahead (UPI expiries and late successes happen within the run).
            while time.monotonic() - started < duration:
                with contextlib.suppress(httpx.HTTPError):
                    await injector.sandbox.post("/_control/clock", json={"advance_seconds": 20})
                await asyncio.sleep(2)

        clients = [asyncio.create_task(client()) for _ in range(args.concurrency)]
        await asyncio.gather(injector.run(plan, started), clock())
        # At the deadline a client walks away from the request it is retrying (as a real one may): what it started
        # is the platform's to finish, and the auditor's to check.
        await asyncio.sleep(max(0.0, started + duration - time.monotonic()))
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        traffic.stats["elapsed_seconds"] = round(time.monotonic() - started)
    return traffic, injector


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--merchants", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16, help="clients sending at once")
    parser.add_argument(
        "--rate", type=float, default=4.0, help="operations started per second, all clients together (0: no cap)"
    )
    parser.add_argument("--fault-interval", type=float, default=0.5, help="mean seconds between provider faults")
    parser.add_argument(
        "--infra-interval", type=float, default=8.0, help="mean seconds between process kills and service restarts"
    )
    parser.add_argument("--drain-seconds", type=float, default=150)
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs, databases) even when clean")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix=f"ledgerline-chaos-{args.seed}-"))
    os.chmod(folder, 0o755)  # noqa: S103 - the private PostgreSQL runs as postgres and must reach its folder
    platform = Platform(folder, args.seed)
    print(f"chaos: seed {args.seed}, {args.minutes} min, folder {folder}", flush=True)
    began = time.monotonic()
    try:
        platform.setup()
        print(f"chaos: platform up after {time.monotonic() - began:.0f}s", flush=True)
        merchants = [platform.merchant(n) for n in range(args.merchants)]
        hooks = receiver()
        traffic, injector = asyncio.run(load(platform, args, merchants, hooks.server_address[1]))
        print(f"chaos: load done after {traffic.stats['elapsed_seconds']}s; draining", flush=True)
        drained = time.monotonic()
        left = drain(platform, args.drain_seconds)
        print(f"chaos: drained in {time.monotonic() - drained:.0f}s; auditing", flush=True)
        audited = time.monotonic()
        report = audit(platform, merchants)
        print(f"chaos: audited in {time.monotonic() - audited:.0f}s", flush=True)
        fired = sandbox_faults_fired(platform)
        hooks.shutdown()
        traffic.stats.update(_Hook.received)
    finally:
        platform.stop()
    operations = sum(v for k, v in traffic.stats.items() if k in OPERATIONS or k.startswith("manual_"))
    summary = {
        "seed": args.seed,
        "minutes": args.minutes,
        "operations": operations,
        "operations_by_kind": dict(sorted((k, v) for k, v in traffic.stats.items() if k != "elapsed_seconds")),
        "responses": dict(traffic.outcomes),
        "client_retries": sum(traffic.retries.values()),
        "client_retries_by_reason": dict(traffic.retries),
        "faults_injected": sum(v for k, v in injector.done.items() if not k.startswith("failed")),
        "faults_by_kind": dict(sorted(injector.done.items())),
        "sandbox_faulted_requests": dict(fired),
        "left_after_drain": left,
        "audit": {k: report[k] for k in ("ok", "by_check", "counts", "notes")},
        "findings": report["findings"][:50],
        "verdict": "CLEAN" if report["ok"] else "FINDINGS",
    }
    print(json.dumps(summary, indent=2))
    print(
        f"chaos: {operations} operations, {summary['faults_injected']} faults, "
        f"{summary['client_retries']} client retries: {summary['verdict']}"
    )
    if report["ok"] and not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"chaos: logs and data kept in {folder}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
