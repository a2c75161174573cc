"""Overload: POST /v1/payments (confirm, inline card) at a fixed arrival rate up to twice the API's capacity.

    .venv/bin/python bench/overload.py [--duration 20] [--max-queue-ms 500] [--without-shedding]

The platform runs in the production shape as bench/api.py starts it (gunicorn config/gunicorn.py, PostgreSQL as
the application's role, Redis; its helpers are reused). First its capacity C is measured with wrk (closed loop,
16 clients, as bench/api.py does). Then an open-loop generator sends requests at fixed rates of 0.5, 1, 1.5 and 2
times C, each stamped ``X-Request-Start`` with the time it was sent, as the proxy in front of the web processes
does in production: arrivals do not slow down when the server does, so the server's queues grow as they would
under real overload. A request's latency is measured from when it was due to be sent.

It then checks the overload promise: at 2 x C, the accepted requests (2xx) keep a p99 within 3 x the p99 at
0.5 x C, the excess is refused (503 from load shedding, core/load_shedding.py, or 429) quickly, and no request
times out. ``--without-shedding`` runs the same rates with ``LEDGERLINE_MAX_QUEUE_MS=0`` to show what the
shedding prevents. Exits non-zero when the promise is not kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import BODY, _env, _psql, _start, _stop, _wrk, migrate_and_create_merchant

CLIENT_TIMEOUT_SECONDS = 10.0


@dataclass
class Step:
    rate: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"2xx": [], "503": [], "429": [], "other": []})
    timeouts: int = 0
    errors: int = 0

    @property
    def sent(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + self.timeouts + self.errors


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _open_loop(base: str, secret_key: str, rate: float, duration: float, tag: str) -> Step:
    step = Step(rate)
    body = json.dumps(BODY)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=CLIENT_TIMEOUT_SECONDS) as client:

        async def one(number: int, due: float) -> None:
            headers = {
                "Authorization": f"Bearer {secret_key}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"overload-{tag}-{number}",
                "X-Request-Start": f"t={time.time():.3f}",
            }
            try:
                response = await client.post("/v1/payments", content=body, headers=headers)
            except httpx.TimeoutException:
                step.timeouts += 1
                return
            except httpx.HTTPError:
                step.errors += 1
                return
            took = (time.monotonic() - due) * 1000
            status = response.status_code
            kind = "2xx" if 200 <= status < 300 else str(status) if status in {429, 503} else "other"
            step.latencies[kind].append(took)

        started = time.monotonic()
        tasks = []
        total = int(rate * duration)
        for number in range(total):
            due = started + number / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(number, due)))
        await asyncio.gather(*tasks)
    return step


def _row(label: str, step: Step) -> str:
    ok, shed = step.latencies["2xx"], step.latencies["503"] + step.latencies["429"]
    return (
        f"| {label} | {step.rate:.0f} | {step.sent} | {len(ok)} | {len(shed)} | {step.timeouts + step.errors} "
        f"| {len(step.latencies['other'])} | {percentile(ok, 0.5):.0f} | {percentile(ok, 0.99):.0f} "
        f"| {percentile(shed, 0.99):.0f} |"
    )


def _run_steps(base: str, secret_key: str, capacity: float, duration: float, label: str) -> dict[float, Step]:
    steps = {}
    for factor in (0.5, 1.0, 1.5, 2.0):
        steps[factor] = asyncio.run(_open_loop(base, secret_key, capacity * factor, duration, f"{label}-{factor}"))
        print(_row(f"{label} {factor:.1f} x C", steps[factor]), flush=True)
        time.sleep(3)  # the queues of one step drain before the next
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20, help="seconds per rate")
    parser.add_argument("--max-queue-ms", type=float, default=500.0, help="LEDGERLINE_MAX_QUEUE_MS of the server")
    parser.add_argument("--without-shedding", action="store_true", help="also run with shedding off, to compare")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--postgres", default="postgres://postgres:postgres@127.0.0.1:5432", help="a superuser")
    parser.add_argument("--owner", default="ledgerline_owner:ledgerline_owner")
    parser.add_argument("--app", default="ledgerline_app:ledgerline_app")
    parser.add_argument("--database", default="ledgerline_bench_overload")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/overload.py needs wrk to measure the capacity: apt-get install wrk")

    owner = args.owner.split(":", 1)[0]
    _psql(args.postgres, f"DROP DATABASE IF EXISTS {args.database}")
    _psql(args.postgres, f"CREATE DATABASE {args.database} OWNER {owner}")
    host = args.postgres.rsplit("@", 1)[-1]
    port = 19000 + os.getpid() % 1000
    env = _env(
        f"postgres://{args.app}@{host}/{args.database}",
        f"postgres://{args.owner}@{host}/{args.database}",
        args.redis,
        port,
        args.workers,
        args.threads,
    )
    # No worker runs: confirm's queue-depth backpressure must not be what refuses requests here.
    env["PSP_QUEUE_MAX_DEPTH"] = "100000000"
    fields = migrate_and_create_merchant(env)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {fields['secret_key']}"}

    runs: dict[str, dict[float, Step]] = {}
    shapes = {"shedding": args.max_queue_ms, **({"no shedding": 0.0} if args.without_shedding else {})}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        capacity = 0.0
        for label, budget in shapes.items():
            proc = _start({**env, "LEDGERLINE_MAX_QUEUE_MS": str(budget)}, "config.settings", workdir / "web.log")
            try:
                if not capacity:
                    _wrk(port, auth, 16, 3, workdir)  # warm up
                    measured = _wrk(port, auth, 16, args.duration, workdir)
                    capacity = measured["rps"]
                    print(
                        f"capacity C = {capacity:.0f} req/s (wrk, 16 clients, p99 {measured['p99_ms']:.0f} ms); "
                        f"nproc {os.cpu_count()}, gunicorn {args.workers}x{args.threads} gthread, "
                        f"LEDGERLINE_MAX_QUEUE_MS {args.max_queue_ms:.0f}, {args.duration} s per rate\n",
                        flush=True,
                    )
                    print(
                        "| run | req/s sent | sent | 2xx | 503/429 | timeouts+errors | other | 2xx p50 ms "
                        "| 2xx p99 ms | 503/429 p99 ms |\n|---|---|---|---|---|---|---|---|---|---|",
                        flush=True,
                    )
                    time.sleep(3)
                runs[label] = _run_steps(base, fields["secret_key"], capacity, args.duration, label)
            finally:
                _stop(proc)

    steps = runs["shedding"]
    half, double = steps[0.5], steps[2.0]
    p99_half = percentile(half.latencies["2xx"], 0.99)
    p99_double = percentile(double.latencies["2xx"], 0.99)
    refused = double.latencies["503"] + double.latencies["429"]
    p99_refused = percentile(refused, 0.99)
    print(
        f"\nat 2 x C: accepted p99 {p99_double:.0f} ms vs {p99_half:.0f} ms at 0.5 x C "
        f"(ratio {p99_double / p99_half:.2f}, promise <= 3); {len(refused)} refused with p99 {p99_refused:.0f} ms; "
        f"{double.timeouts} timeouts, {double.errors} errors"
    )
    kept = (
        p99_double <= 3 * p99_half
        and double.timeouts == 0
        and double.errors == 0
        and (not refused or p99_refused < CLIENT_TIMEOUT_SECONDS * 1000 / 4)
    )
    print("promise kept" if kept else "promise NOT kept")
    if not kept:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
