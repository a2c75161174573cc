"""Bench only: where one ``POST /v1/payments`` (confirm, inline card) spends its time, and how much CPU it costs.

Run by ``bench/api.py --profile N`` / ``--cpu N`` in the production shape against the bench database: it sends
requests through Django's WSGI handler in this one process (no gunicorn, no network), so the figures are of the
request path itself.

* ``--profile N``: pyinstrument's text report of N product requests together (shares of wall time).
* ``--cprofile N``: cProfile of N product requests on the CPU clock (``time.process_time``), by cumulative time.
* ``--cpu N``: Python CPU per request (``time.process_time``), best of ``--repeat`` runs of N requests after a
  warm-up, for whichever server ``DJANGO_SETTINGS_MODULE`` names (the product, or ``bench.baseline_settings``).
  PostgreSQL's own CPU is not included: on a 2-core machine that both share, this is what sets the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--profile", type=int, metavar="N")
    mode.add_argument("--cprofile", type=int, metavar="N")
    mode.add_argument("--cpu", type=int, metavar="N")
    mode.add_argument("--sql", type=int, metavar="N")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    body = os.environ["BENCH_BODY"]
    django.setup()
    from django.test import Client

    baseline = os.environ["DJANGO_SETTINGS_MODULE"] == "bench.baseline_settings"
    if baseline:
        client = Client(HTTP_HOST="127.0.0.1", HTTP_X_MERCHANT=os.environ["BENCH_MERCHANT_ID"])
    else:
        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {os.environ['BENCH_SECRET_KEY']}")

    def post() -> None:
        response = client.post(
            "/v1/payments", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
        )
        if response.status_code != 200:
            raise SystemExit(f"{response.status_code}: {response.content[:500]!r}")

    for _ in range(args.warmup):  # warm: imports, connections, caches
        post()
    if args.sql:
        _print_round_trips(post, args.sql, baseline=baseline)
        return
    if args.cpu:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = int(cursor.fetchone()[0])
        runs, server_runs = [], []
        for _ in range(args.repeat):
            started, server_started = time.process_time(), _process_cpu(backend)
            for _ in range(args.cpu):
                post()
            runs.append((time.process_time() - started) / args.cpu * 1000)
            server_runs.append((_process_cpu(backend) - server_started) / args.cpu * 1000)
        name = "baseline" if baseline else "product"
        print(
            json.dumps(
                {
                    "server": name,
                    "requests": args.cpu,
                    "cpu_ms_per_request": [round(r, 2) for r in runs],
                    "postgres_backend_cpu_ms_per_request": [round(r, 2) for r in server_runs],
                }
            )
        )
        print(
            f"{name}: {min(runs):.2f} ms CPU per request (best of {args.repeat} x {args.cpu}); its PostgreSQL"
            f" backend {min(server_runs):.2f} ms",
            flush=True,
        )
        return
    if args.cprofile:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(args.cprofile):
            post()
        profiler.disable()
        if os.environ.get("BENCH_PROFILE_OUT"):
            profiler.dump_stats(os.environ["BENCH_PROFILE_OUT"])  # for pstats' callers/callees views
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(80)
        return
    from pyinstrument import Profiler

    pyinstrument = Profiler(interval=0.0005)
    pyinstrument.start()
    for _ in range(args.profile):
        post()
    pyinstrument.stop()
    print(pyinstrument.output_text(unicode=False, color=False, show_all=False))
    seconds = pyinstrument.last_session.duration if pyinstrument.last_session else 0
    print(json.dumps({"requests": args.profile, "seconds": seconds}))


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process on this machine has used: the request's PostgreSQL backend, whose CPU
    comes out of the same two cores (the WAL writer's and the checkpointer's are not counted)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _print_round_trips(post: Callable[[], None], requests: int, *, baseline: bool) -> None:
    """The SQL statements (with the transaction commands psycopg sends itself) and Redis commands of ``requests``
    requests, one request's worth printed: round trips are what the two servers' shapes differ in."""
    import redis
    from django.db import connection

    statements: list[str] = []
    redis_commands: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(" ".join(sql.split())[:110])
        return execute(sql, params, many, context)

    original = redis.Redis.execute_command
    original_pipe = redis.client.Pipeline.execute

    def redis_command(self: Any, *args: Any, **options: Any) -> Any:
        redis_commands.append(str(args[0]))
        return original(self, *args, **options)

    def redis_pipeline(self: Any, *args: Any, **kwargs: Any) -> Any:
        redis_commands.append("pipeline[" + " ".join(str(c[0][0]) for c in self.command_stack) + "]")
        return original_pipe(self, *args, **kwargs)

    redis.Redis.execute_command = redis_command  # type: ignore[method-assign]
    redis.client.Pipeline.execute = redis_pipeline  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(record):
            for _ in range(requests):
                post()
    finally:
        redis.Redis.execute_command = original  # type: ignore[method-assign]
        redis.client.Pipeline.execute = original_pipe  # type: ignore[method-assign]
    name = "baseline" if baseline else "product"
    print(
        f"{name}: {len(statements) / requests:.2f} SQL statements and {len(redis_commands) / requests:.2f} Redis"
        " round trips per request (BEGIN/COMMIT and the connection check are psycopg's, not counted); the last:"
    )
    per = len(statements) // requests
    for sql in statements[-per:]:
        print("  sql  ", sql)
    per_redis = len(redis_commands) // requests
    for command in redis_commands[-per_redis:] if per_redis else []:
        print("  redis", command)


if __name__ == "__main__":
    main()
