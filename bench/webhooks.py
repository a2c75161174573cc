"""Webhook throughput: committed outbox rows -> relay -> Event + delivery -> Celery webhooks worker -> a local
receiver, measured end to end, next to a baseline of the same signed POSTs sent straight from a thread pool.

    .venv/bin/python bench/webhooks.py [--events 2000] [--endpoints 4] [--concurrency 8] [--relays 1] [--rate 0]

Needs PostgreSQL and Redis (``make services``); uses its own database (``ledgerline_bench_webhooks``) and Redis
db 5, both wiped at start. ``--rate 0`` inserts everything at once (throughput); ``--rate N`` paces inserts at N
events/s (latency under a steady load). Latency is from the outbox row's commit to the receiver's read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "ledgerline_bench_webhooks"
PG = "postgres://postgres:postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/5"


class Receiver:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                event_id = self.headers.get("Ledgerline-Event-Id", "")
                with state.lock:
                    state.received.setdefault(event_id, time.time())
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(self.received)} of {count} events arrived within {timeout:.0f} s")
            time.sleep(0.01)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def prepare_environment() -> dict[str, str]:
    import psycopg
    import redis

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    redis.Redis.from_url(REDIS).flushdb()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "LEDGERLINE_ENV"}}
    env.update(LEDGERLINE_ENV="test", DATABASE_URL=f"{PG}/{DB_NAME}", REDIS_URL=REDIS, LOG_LEVEL="WARNING")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return env


def baseline(receiver_url: str, count: int, concurrency: int) -> float:
    """The same signed POSTs, straight from a thread pool: what the receiver and HTTP alone allow."""
    import httpx

    from ledgerline.webhooks import signature_header

    body = json.dumps({"id": "evt_x", "object": "event", "data": {"object": {"amount": 1000}}}).encode()
    local = threading.local()

    def post(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(trust_env=False, timeout=10)
        headers = {
            "Ledgerline-Signature": signature_header(body, ["whsec_bench"], int(time.time())),
            "Ledgerline-Event-Id": f"base_{i}",
            "Content-Type": "application/json",
        }
        client.post(f"{receiver_url}/baseline", content=body, headers=headers).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(count)))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=4, help="merchants, one endpoint each")
    parser.add_argument("--concurrency", type=int, default=8, help="threads of the webhooks worker")
    parser.add_argument("--relays", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0.0, help="events/s to insert at; 0 = all at once")
    args = parser.parse_args()

    env = prepare_environment()
    import django

    django.setup()
    from django.db import connection, transaction

    from payments.services.merchants import merchant_create
    from payments.services.outbox import outbox_event_add
    from payments.services.webhook_endpoints import webhook_endpoint_create

    receiver = Receiver()
    base_rate = baseline(receiver.url, args.events, args.concurrency)
    receiver.received.clear()

    merchants = []
    for i in range(args.endpoints):
        merchant, _ = merchant_create(name=f"Bench {i}", email=f"bench{i}@ledgerline.test")
        webhook_endpoint_create(
            merchant=merchant, livemode=False, url=f"{receiver.url}/m{i}", enabled_events=["payment.succeeded"]
        )
        merchants.append(merchant)

    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    commands = [[sys.executable, "manage.py", "outbox_relay"] for _ in range(args.relays)]
    commands.append(
        [
            str(bin_dir / "celery"),
            "-A",
            "config",
            "worker",
            "--queues",
            "webhooks",
            "--pool",
            "threads",
            "--concurrency",
            str(args.concurrency),
            "--loglevel",
            "WARNING",
            "--hostname",
            f"bench-webhooks-{os.getpid()}@%h",
        ]
    )
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=(logs / f"p{i}.log").open("wb"), stderr=subprocess.STDOUT)
        for i, cmd in enumerate(commands)
    ]
    try:
        time.sleep(4)  # let the worker connect and the relay poll
        committed: dict[str, float] = {}
        chunk = 50 if args.rate == 0 else max(1, int(args.rate / 20))
        started = time.time()
        for offset in range(0, args.events, chunk):
            if args.rate:
                time.sleep(max(0.0, started + offset / args.rate - time.time()))
            with transaction.atomic():
                for i in range(offset, min(offset + chunk, args.events)):
                    row = outbox_event_add(
                        merchant_id=merchants[i % len(merchants)].id,
                        livemode=False,
                        event_type="payment.succeeded",
                        aggregate_type="payment",
                        aggregate_id=f"pay_{i}",
                        payload={"id": f"pay_{i}", "object": "payment", "amount": 1000 + i, "currency": "eur"},
                    )
                    committed[str(row.id)] = 0.0
            now = time.time()
            for key in [k for k, v in committed.items() if v == 0.0]:
                committed[key] = now
        inserted = time.time()
        receiver.wait(args.events, timeout=600)
        finished = max(receiver.received.values())
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, outbox_id FROM payments_event")
        outbox_of = {event_id: str(outbox_id) for event_id, outbox_id in cursor.fetchall()}
    latencies = [(at - committed[outbox_of[event_id]]) * 1000 for event_id, at in receiver.received.items()]
    rate = args.events / (finished - started)
    print(
        f"nproc {os.cpu_count()}  events {args.events}  endpoints {args.endpoints}  worker threads "
        f"{args.concurrency}  relays {args.relays}  insert rate {'burst' if not args.rate else args.rate}"
    )
    print(f"inserted in {inserted - started:.2f} s; all delivered after {finished - started:.2f} s")
    print(f"pipeline       {rate:8.1f} events/s")
    print(f"baseline POST  {base_rate:8.1f} requests/s (same receiver, {args.concurrency} threads, no platform)")
    print(f"ratio          {rate / base_rate:8.2f}")
    p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
    print(f"latency ms     p50 {p50:.0f}  p95 {p95:.0f}  p99 {p99:.0f}  max {max(latencies):.0f}")


if __name__ == "__main__":
    main()
