"""POST /v1/payments with confirm=true: throughput and p50/p99 against gunicorn, beside the baseline floor.

    .venv/bin/python bench/api.py [--clients 16] [--duration 20] [--rounds 2]

Both servers run the production settings shape (gunicorn config/gunicorn.py, PostgreSQL, Redis,
SECURE_SSL_REDIRECT=false) on a fresh bench database, as production does: migrated by the owner role
(ledgerline_owner, DATABASE_OWNER_URL, ``migrate --database owner``) and served as the application's role
(ledgerline_app), which the production shape requires (check ledgerline.E010 refuses a superuser; the roles are
the ones deploy/ensure-services.sh creates). The baseline is bench/baseline.py served from
bench.baseline_settings (no auth, no throttle, raw cursor inserts). They run one after the other, alternating
for --rounds, never at the same time, so each has the machine to itself. The load comes from wrk (C, one
thread, from Debian's `wrk` package) so the load generator takes as little CPU as possible from the server;
every request carries a fresh Idempotency-Key. No PSP runs: the request path calls none (the card is tokenized by
the executor, which is not measured; confirm only queues it).

``--profile N`` runs the product in one process under pyinstrument instead and writes where a request's time goes;
``--cprofile N`` does the same with cProfile on the CPU clock; ``--cpu N`` measures Python CPU per request of the
baseline, the product and the baseline again, in process (bench/profile_api.py).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

BODY = {
    "amount": 2000,
    "currency": "usd",
    "confirm": True,
    "payment_method": {
        "type": "card",
        "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2039, "cvc": "123"},
    },
}

WRK_SCRIPT = """
local counter = 0
local run_tag = "%(run_tag)s"
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
%(headers)s
request = function()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = "bench-" .. run_tag .. "-" .. counter
  return wrk.format(nil, "/v1/payments")
end
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("RESULT %%d %%d %%f %%f %%f\\n", summary.requests, non2xx, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def _psql(base_url: str, sql: str, database: str = "postgres") -> None:
    subprocess.run(["psql", f"{base_url}/{database}", "-qc", sql], check=True, capture_output=True)


# Every table a request of either server writes to.
_WRITTEN = (
    "payments_idempotencykey",
    "payments_outboxmessage",
    "payments_paymentstatechange",
    "payments_paymentattempt",
    "payments_payment",
    "payments_paymentmethod",
    "payments_cardvaultentry",
)


def _same_start(base_url: str, database: str) -> None:
    """Each run starts from the same database state, whichever server and round it is: the rows the previous runs
    wrote are gone (no bigger indexes, no dead tuples for autovacuum to clean up during the next run) and a
    checkpoint has just been made (so no run inherits one that the previous run's WAL started, with the full-page
    images that follow it). Without this, only the first run (the baseline's round 1) ran on an empty database."""
    _psql(base_url, f"TRUNCATE {', '.join(_WRITTEN)} CASCADE; CHECKPOINT", database)


def _env(database_url: str, owner_url: str, redis_url: str, port: int, workers: int, threads: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"LEDGERLINE_ENV", "DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL"}
    }
    env.update(
        LEDGERLINE_ENV="production",
        SECRET_KEY="bench-" + "x" * 50,
        # The vault's key-encryption key: production refuses to start without one of its own (payments.E003).
        LEDGERLINE_VAULT_KEYS="bench:" + base64.b64encode(os.urandom(32)).decode(),
        DATABASE_URL=database_url,
        DATABASE_OWNER_URL=owner_url,
        REDIS_URL=redis_url,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        LEDGERLINE_API_RATE="10000000/s",
        LOG_LEVEL="WARNING",  # request lines cost the same for both, but would drown the output
        PORT=str(port),
        WEB_CONCURRENCY=str(workers),
        GUNICORN_THREADS=str(threads),
        PYTHONUNBUFFERED="1",
    )
    env.update(provider_credentials())
    return env


def provider_credentials() -> dict[str, str]:
    """The production shape refuses the sandbox's published credentials: the bench's sandbox gets its own."""
    credentials = {}
    for name in ("CARD_A", "CARD_B", "CARD_C", "UPI"):
        key, secret = f"bench-key-{name.lower()}", f"bench-whsec-{name.lower()}"
        credentials.update(
            {
                f"PSP_{name}_API_KEY": key,
                f"SANDBOX_{name}_API_KEY": key,
                f"PSP_{name}_WEBHOOK_SECRET": secret,
                f"SANDBOX_{name}_WEBHOOK_SECRET": secret,
            }
        )
    return credentials


def migrate_and_create_merchant(env: dict[str, str]) -> dict[str, str]:
    """Migrates the bench database and creates the bench merchant; returns create_merchant's fields."""
    manage = [sys.executable, "manage.py"]
    # As the owner, which then grants the application's role what it needs (core/database_roles.py).
    subprocess.run([*manage, "migrate", "--database", "owner", "-v", "0"], cwd=ROOT, env=env, check=True)
    created = subprocess.run(
        [*manage, "create_merchant", "Bench", "--email", "bench@bench.test"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split(": ", 1) for line in created.splitlines())


def _start(env: dict[str, str], settings_module: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**env, "DJANGO_SETTINGS_MODULE": settings_module}
    handle = log.open("wb")
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{env['PORT']}/healthz"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code in {200, 404}:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not start:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _wrk(port: int, headers: dict[str, str], clients: int, duration: int, workdir: Path) -> dict[str, float]:
    script = workdir / "post.lua"
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script.write_text(WRK_SCRIPT % {"body": json.dumps(BODY), "headers": header_lines, "run_tag": time.time_ns()})
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{clients}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/v1/payments",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", done.stdout)
    if not match:
        raise SystemExit(done.stdout + done.stderr)
    requests, errors, seconds, p50, p99 = (float(g) for g in match.groups())
    return {"requests": requests, "non_2xx": errors, "rps": (requests - errors) / seconds, "p50_ms": p50, "p99_ms": p99}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--postgres", default="postgres://postgres:postgres@127.0.0.1:5432", help="a superuser")
    parser.add_argument("--owner", default="ledgerline_owner:ledgerline_owner", help="user:password that migrates")
    parser.add_argument("--app", default="ledgerline_app:ledgerline_app", help="user:password the servers use")
    parser.add_argument("--database", default="ledgerline_bench_api")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile N product requests instead")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N", help="cProfile N product requests (CPU clock)")
    parser.add_argument("--sql", type=int, default=0, metavar="N", help="SQL and Redis round trips, in process")
    parser.add_argument(
        "--cpu", type=int, default=0, metavar="N", help="Python CPU per request, baseline and product, in process"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/api.py needs wrk: apt-get install wrk")

    owner = args.owner.split(":", 1)[0]
    _psql(args.postgres, f"DROP DATABASE IF EXISTS {args.database}")
    _psql(args.postgres, f"CREATE DATABASE {args.database} OWNER {owner}")
    host = args.postgres.rsplit("@", 1)[-1]
    database_url = f"postgres://{args.app}@{host}/{args.database}"
    owner_url = f"postgres://{args.owner}@{host}/{args.database}"
    port = 18000 + os.getpid() % 1000
    env = _env(database_url, owner_url, args.redis, port, args.workers, args.threads)
    fields = migrate_and_create_merchant(env)
    if args.profile or args.cprofile or args.cpu or args.sql:
        in_process = {
            **env,
            "BENCH_SECRET_KEY": fields["secret_key"],
            "BENCH_MERCHANT_ID": fields["merchant_id"],
            "BENCH_BODY": json.dumps(BODY),
            "PYTHONPATH": str(ROOT),  # bench.baseline_settings, from a script run as bench/profile_api.py
        }
        if args.cpu or args.sql:
            modules = ("bench.baseline_settings", "config.settings")
            option = ["--cpu", str(args.cpu)] if args.cpu else ["--sql", str(args.sql)]
            for settings_module in (*modules, "bench.baseline_settings") if args.cpu else modules:
                subprocess.run(
                    [sys.executable, "bench/profile_api.py", *option],
                    cwd=ROOT,
                    env={**in_process, "DJANGO_SETTINGS_MODULE": settings_module},
                    check=True,
                )
            return
        option = ["--profile", str(args.profile)] if args.profile else ["--cprofile", str(args.cprofile)]
        subprocess.run(
            [sys.executable, "bench/profile_api.py", *option],
            cwd=ROOT,
            env={**in_process, "DJANGO_SETTINGS_MODULE": "config.settings"},
            check=True,
        )
        return

    contenders = {
        "baseline": ("bench.baseline_settings", {"X-Merchant": fields["merchant_id"]}),
        "product": ("config.settings", {"Authorization": f"Bearer {fields['secret_key']}"}),
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for round_number in range(args.rounds):
            for name, (settings_module, headers) in contenders.items():
                _same_start(args.postgres, args.database)
                proc = _start(env, settings_module, workdir / f"{name}.log")
                try:
                    _wrk(port, headers, args.clients, 3, workdir)  # warm up connections and code paths
                    result = _wrk(port, headers, args.clients, args.duration, workdir)
                finally:
                    _stop(proc)
                results[name].append(result)
                print(
                    f"round {round_number + 1} {name:8s} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:6.1f} ms"
                    f"  p99 {result['p99_ms']:6.1f} ms  non-2xx {int(result['non_2xx'])}",
                    flush=True,
                )

    failed = [name for name, runs in results.items() if any(r["non_2xx"] for r in runs)]
    if failed:
        # A server answering errors fast would report a meaningless rate: stop and say which one.
        raise SystemExit(f"non-2xx responses from {', '.join(failed)}: see the logs under {workdir}")
    best = {name: max(runs, key=lambda r: r["rps"]) for name, runs in results.items()}
    ratio = best["product"]["rps"] / best["baseline"]["rps"]
    print(
        f"\nnproc {os.cpu_count()}, {args.clients} clients, gunicorn {args.workers}x{args.threads} gthread, "
        f"{args.duration}s per run, best of {args.rounds}"
    )
    print("| server | req/s | p50 ms | p99 ms |\n|---|---|---|---|")
    for name, result in best.items():
        print(f"| {name} | {result['rps']:.0f} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} |")
    print(f"\nproduct / baseline throughput: {ratio:.2f} (target >= 0.6)")


if __name__ == "__main__":
    main()
