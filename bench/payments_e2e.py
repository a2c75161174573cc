"""Payments end to end: from POST /v1/payments (confirm=true) to succeeded, through real workers and the sandbox.

    .venv/bin/python bench/payments_e2e.py [--payments 600] [--clients 8] [--concurrency 1,2,4]

Everything runs as in production (gunicorn config/gunicorn.py, PostgreSQL, Redis, the production settings
shape) on a fresh bench database, with the PSP sandbox at zero added latency. For each worker concurrency the
bench posts --payments card payments as fast as --clients HTTP clients can, while an outbox relay hands the
execute commands to the psp.card_a queue and a Celery worker (prefork, that many processes) runs them. It
reports the API's create rate (the baseline: payments accepted per second) and the end-to-end rate (payments
that reached ``succeeded``, and their ledger posting when the ledger app is installed, per second, from the first
create to the last success); the target is end-to-end >= 0.5 x create.
The outbox relay is the platform's own (``manage.py outbox_relay``).

Then it measures what one worker process applies: --apply-payments card payments are created while no worker
runs (their commands wait on the queue), then ONE worker process (prefork, concurrency 1) claims, calls and
applies them; applied/s is their count over the span from the first attempt's claim to the last one's finish (the
worker's boot is not counted). Run it on two checkouts to compare code (``--root``).
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as a script (python bench/payments_e2e.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.api import BIN, BODY, ROOT, migrate_and_create_merchant, provider_credentials


def _env(database_url: str, owner_url: str, redis_url: str, sandbox_url: str, port: int) -> dict[str, str]:
    shape = {"LEDGERLINE_ENV", "DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL"}
    env = {k: v for k, v in os.environ.items() if k not in shape}
    env.update(
        LEDGERLINE_ENV="production",
        SECRET_KEY="bench-" + "x" * 50,
        DATABASE_URL=database_url,
        DATABASE_OWNER_URL=owner_url,
        # The production shape refuses to start without a real vault key (payments.E003).
        LEDGERLINE_VAULT_KEYS="bench:" + base64.b64encode(os.urandom(32)).decode(),
        LEDGERLINE_VAULT_ACTIVE_KEY="bench",
        REDIS_URL=redis_url,
        SANDBOX_URL=sandbox_url,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        LEDGERLINE_API_RATE="10000000/s",
        LOG_LEVEL="WARNING",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="4",
        PYTHONUNBUFFERED="1",
    )
    env.update(provider_credentials())
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _wait(url: str, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start")


def _psql(base: str, database: str, sql: str) -> str:
    done = subprocess.run(["psql", f"{base}/{database}", "-tAc", sql], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _post_all(base: str, secret: str, total: int, clients: int) -> tuple[float, float, int]:
    """Posts ``total`` payments from ``clients`` threads; returns (first send, last answer, failures)."""
    counter = iter(range(total))
    lock = threading.Lock()
    failures = 0
    started = time.monotonic()

    def client() -> None:
        nonlocal failures
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as http:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                response = http.post("/v1/payments", json=BODY, headers={"Idempotency-Key": f"e2e-{started}-{n}"})
                if response.status_code != 200:
                    with lock:
                        failures += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return started, time.monotonic(), failures


def _workers(
    env: dict[str, str], concurrency: int, log: Path, root: Path, threads: int = 0
) -> list[subprocess.Popen[bytes]]:
    """``concurrency`` prefork processes, or with ``threads`` that many worker processes each running a pool of
    ``threads`` threads (what run_platform starts for a provider queue on PostgreSQL: ``PSP_WORKER_POOL=threads``;
    scaling out is more such processes, on this host or others)."""
    args = [str(BIN / "celery"), "-A", "config", "worker", "--queues", "psp.card_a,celery"]
    args += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    if not threads:
        return [_spawn([*args, "--concurrency", str(concurrency)], env, log, root)]
    return [
        _spawn([*args, "--pool", "threads", "--concurrency", str(threads), "-n", f"e2e{n}@%h"], env, log, root)
        for n in range(concurrency)
    ]


def _spawn(args: list[str], env: dict[str, str], log: Path, root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=root, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _apply_rate(args: argparse.Namespace, base: str, secret: str, env: dict[str, str], logs: Path) -> float:
    """Payments one worker process claims, calls and applies per second, from a full queue."""
    mark = _psql(args.postgres, args.database, "SELECT now()")
    _first, _last, failures = _post_all(base, secret, args.apply_payments, args.clients)
    waiting = "SELECT count(*) FROM payments_outboxmessage WHERE kind = 'command' AND published_at IS NULL"
    while int(_psql(args.postgres, args.database, waiting)):
        time.sleep(0.2)
    workers = _workers(env, 1, logs / "e2e-worker-apply.log", args.root)
    total = args.apply_payments - failures
    mine = f"FROM payments_paymentattempt a JOIN payments_payment p ON p.id = a.payment_id WHERE p.created > '{mark}'"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = int(_psql(args.postgres, args.database, f"SELECT count(*) {mine} AND a.outcome = 'succeeded'"))
            if done >= total:
                break
            time.sleep(0.2)
    finally:
        for worker in workers:
            _stop(worker)
    span = float(
        _psql(
            args.postgres,
            args.database,
            f"SELECT extract(epoch FROM max(a.finished_at) - min(a.started_at)) {mine}",  # noqa: S608
        )
    )
    return total / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--concurrency", default="1,2,4", help="worker processes to try, comma-separated")
    parser.add_argument("--postgres", default="postgres://postgres:postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="ledgerline_bench_e2e")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--apply-payments", type=int, default=300, help="payments for the one-worker apply rate")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code the worker runs")
    parser.add_argument(
        "--threads", type=int, default=0, help="worker processes with this many threads each instead of prefork"
    )
    args = parser.parse_args()
    _psql(args.postgres, "postgres", f"DROP DATABASE IF EXISTS {args.database}")
    # Migrated as the owner role, served as the application's role, as the production shape requires (bench/api.py).
    _psql(args.postgres, "postgres", f"CREATE DATABASE {args.database} OWNER ledgerline_owner")
    host = args.postgres.rsplit("@", 1)[-1]
    database_url = f"postgres://ledgerline_app:ledgerline_app@{host}/{args.database}"
    owner_url = f"postgres://ledgerline_owner:ledgerline_owner@{host}/{args.database}"
    port, sandbox_port = 19000 + os.getpid() % 500, 19500 + os.getpid() % 500
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = _env(database_url, owner_url, args.redis, sandbox_url, port)
    secret = migrate_and_create_merchant(env)["secret_key"]
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp"))  # noqa: S108 - bench logs, inspected by hand
    # uvicorn reads WEB_CONCURRENCY too: the sandbox is one process.
    sandbox_env = {k: v for k, v in env.items() if k != "WEB_CONCURRENCY"}
    sandbox = _start(
        [sys.executable, "-m", "sandbox", "--port", str(sandbox_port)], sandbox_env, logs / "e2e-sandbox.log"
    )
    web = _start([str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"], env, logs / "e2e-web.log")
    relay = _start([sys.executable, "manage.py", "outbox_relay"], env, logs / "e2e-relay.log")
    rows = []
    try:
        _wait(f"{sandbox_url}/healthz", "sandbox")
        _wait(f"http://127.0.0.1:{port}/healthz", "gunicorn")
        for concurrency in [int(c) for c in args.concurrency.split(",") if c]:
            workers = _workers(env, concurrency, logs / f"e2e-worker-{concurrency}.log", args.root, args.threads)
            time.sleep(4)  # worker boot
            before = int(_psql(args.postgres, args.database, "SELECT count(*) FROM payments_payment"))
            first, last_created, failures = _post_all(f"http://127.0.0.1:{port}", secret, args.payments, args.clients)
            total = before + args.payments - failures
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                done = int(
                    _psql(
                        args.postgres, args.database, "SELECT count(*) FROM payments_payment WHERE status = 'succeeded'"
                    )
                )
                if done >= total:
                    break
                time.sleep(0.1)
            last_success = time.monotonic()
            for worker in workers:
                _stop(worker)
            create_rate = (args.payments - failures) / (last_created - first)
            e2e_rate = (args.payments - failures) / (last_success - first)
            rows.append((concurrency, create_rate, e2e_rate, failures))
            print(
                f"workers {concurrency}: create {create_rate:7.1f}/s  succeeded {e2e_rate:7.1f}/s  "
                f"ratio {e2e_rate / create_rate:.2f}  non-200 {failures}",
                flush=True,
            )
        applied = _apply_rate(args, f"http://127.0.0.1:{port}", secret, env, logs) if args.apply_payments else 0.0
    finally:
        for proc in (relay, web, sandbox):
            _stop(proc)
    print(f"\nnproc {os.cpu_count()}, {args.payments} payments per run, {args.clients} clients, gunicorn 2x4 gthread")
    print("| worker processes | API creates/s | succeeded/s | succeeded / created |\n|---|---|---|---|")
    for concurrency, create_rate, e2e_rate, _ in rows:
        print(f"| {concurrency} | {create_rate:.0f} | {e2e_rate:.0f} | {e2e_rate / create_rate:.2f} |")
    if args.apply_payments:
        print(f"\none worker process ({args.root}): {applied:.1f} payments applied/s over {args.apply_payments}")


if __name__ == "__main__":
    main()
