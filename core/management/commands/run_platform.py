"""Starts every process of the platform in the foreground; Ctrl-C (or SIGTERM) stops them all.

``make run`` calls this after migrating and seeding. core/supervisor.py multiplexes the processes' output, restarts
a process that dies and stops them all gracefully; a line says when the whole platform answers.
"""

import os
import shlex
import shutil
import sys
import threading
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from core.health import platform_wait_ready
from core.supervisor import Supervisor

_READY_TIMEOUT_SECONDS = 180.0


def worker_queues() -> dict[str, str]:
    """Worker process name -> the one queue it consumes."""
    queues = {"worker": "celery", "webhooks": settings.WEBHOOKS_QUEUE}
    for queue in sorted({str(c.get("queue") or f"psp.{n}") for n, c in settings.PSP_CONNECTORS.items()}):
        queues[queue.replace(".", "-")] = queue
    return queues


def platform_processes(*, host: str, port: int) -> dict[str, str]:
    python = shlex.quote(sys.executable)
    sandbox_host = shlex.quote(settings.SANDBOX_HOST)
    sandbox_db = shlex.quote(str(settings.VAR_DIR / "sandbox.sqlite3"))
    bin_dir = os.path.dirname(sys.executable)
    celery = shlex.quote(os.path.join(bin_dir, "celery"))
    gunicorn = shlex.quote(os.path.join(bin_dir, "gunicorn"))
    schedule = settings.CELERY_BEAT_SCHEDULE_FILENAME
    processes = {
        "web": f"{gunicorn} config.wsgi --config python:config.gunicorn --bind {host}:{port}",
        "worker": f"{celery} -A config worker --loglevel INFO --concurrency 2 --queues celery --hostname worker@%h",
        "beat": f"{celery} -A config beat --loglevel INFO --schedule {shlex.quote(schedule)}",
        # The PSP simulator is its own program (never imported by the platform), reached over HTTP like a real PSP.
        "sandbox": f"{python} -m sandbox --host {sandbox_host} --port {settings.SANDBOX_PORT} --db {sandbox_db}",
        # Outbox rows -> events, webhook deliveries and commands (payments/management/commands/outbox_relay.py).
        "relay": f"{shlex.quote(sys.executable)} manage.py outbox_relay",
        # Webhook deliveries on their own queue and workers: a slow merchant endpoint never holds up payments work.
        # Threads, because deliveries wait on the network; each request has its own 10 s hard deadline.
        "webhooks": f"{celery} -A config worker --queues {settings.WEBHOOKS_QUEUE} --pool threads "
        f"--concurrency {settings.WEBHOOKS_CONCURRENCY} --loglevel INFO --hostname webhooks@%h",
    }
    # A worker per provider queue (bulkheads): a slow or hanging provider ties up only its own worker's slots.
    for name, queue in worker_queues().items():
        if name in processes:
            continue
        processes[name] = (
            f"{celery} -A config worker --loglevel INFO --pool {shlex.quote(settings.PSP_WORKER_POOL)} "
            f"--concurrency {settings.PSP_WORKER_CONCURRENCY} "
            f"--queues {shlex.quote(queue)} --hostname {shlex.quote(name)}@%h"
        )
    return processes


def metrics_folder_prepare() -> Path:
    """One empty folder that every program of this run writes its Prometheus figures to (core/metrics.py):
    the children inherit the variable, and figures of an earlier run (dead processes) must not be added in."""
    folder = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.VAR_DIR / "metrics")))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


class Command(BaseCommand):
    help = "Runs web, Celery workers, beat, the outbox relay and the PSP sandbox together (Ctrl-C stops all)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args: Any, **options: Any) -> None:
        base = f"http://{options['host']}:{options['port']}"
        metrics_folder_prepare()
        sandbox = f"http://{settings.SANDBOX_HOST}:{settings.SANDBOX_PORT}"
        # The sandbox signs and sends its provider webhooks to this platform's inbound endpoint.
        sandbox_env = {**os.environ, "SANDBOX_WEBHOOK_URL": f"{base}/psp/webhooks/{{provider}}"}
        supervisor = Supervisor(
            platform_processes(host=options["host"], port=options["port"]),
            cwd=str(settings.BASE_DIR),
            out=self.stdout,
            env={"sandbox": sandbox_env},
        )
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        broker = settings.CELERY_BROKER_URL.split(":")[0]
        self.stdout.write(
            "\nLedgerline is starting "
            f"({settings.LEDGERLINE_ENV} shape, database: {database}, broker: {broker})\n"
            f"  API          {base}/v1/\n"
            f"  API docs     {base}/docs/\n"
            f"  Back office  {base}/admin/\n"
            f"  Health       {base}/healthz  {base}/readyz  {base}/metrics (Prometheus)\n"
            f"  PSP sandbox  {sandbox}/ (see sandbox/README.md)\n"
            "Ctrl-C stops everything.\n\n"
        )
        self.stdout.flush()

        def announce_ready() -> None:
            started = time.monotonic()
            queues = list(worker_queues().values())
            missing = platform_wait_ready(web=base, sandbox=sandbox, queues=queues, timeout=_READY_TIMEOUT_SECONDS)
            took = time.monotonic() - started
            if missing:
                supervisor.say(f"Ledgerline is NOT ready after {took:.0f} s: no answer from {', '.join(missing)}")
            else:
                supervisor.say(
                    f"Ledgerline is ready ({took:.0f} s): web, PSP sandbox and {len(queues)} workers answer; "
                    f"API {base}/v1/, back office {base}/admin/"
                )

        threading.Thread(target=announce_ready, daemon=True).start()
        sys.exit(supervisor.run())
