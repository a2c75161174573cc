"""Bench only: where one ``POST /v1/payments`` (confirm, inline card) spends its time, under pyinstrument.

Run by ``bench/api.py --profile`` in the production shape against the bench database: it sends ``--requests``
requests through Django's WSGI handler in this one process (no gunicorn, no network) and prints pyinstrument's
text report of them together, so the shares are of the write path itself.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

import django


def main() -> None:
    requests = int(sys.argv[1])
    secret = os.environ["BENCH_SECRET_KEY"]
    body = os.environ["BENCH_BODY"]
    django.setup()
    from django.test import Client
    from pyinstrument import Profiler

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {secret}")

    def post() -> None:
        response = client.post(
            "/v1/payments", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
        )
        if response.status_code != 200:
            raise SystemExit(f"{response.status_code}: {response.content[:500]!r}")

    for _ in range(50):  # warm: imports, connections, caches
        post()
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(requests):
        post()
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    print(json.dumps({"requests": requests, "seconds": profiler.last_session.duration if profiler.last_session else 0}))


if __name__ == "__main__":
    main()
