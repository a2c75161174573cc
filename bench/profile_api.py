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

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--profile", type=int, metavar="N")
    mode.add_argument("--cprofile", type=int, metavar="N")
    mode.add_argument("--cpu", type=int, metavar="N")
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
    if args.cpu:
        runs = []
        for _ in range(args.repeat):
            started = time.process_time()
            for _ in range(args.cpu):
                post()
            runs.append((time.process_time() - started) / args.cpu * 1000)
        name = "baseline" if baseline else "product"
        print(json.dumps({"server": name, "requests": args.cpu, "cpu_ms_per_request": [round(r, 2) for r in runs]}))
        print(f"{name}: {min(runs):.2f} ms CPU per request (best of {args.repeat} x {args.cpu})", flush=True)
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


if __name__ == "__main__":
    main()
