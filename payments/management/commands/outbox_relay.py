"""``manage.py outbox_relay``: the long-running outbox relay that ``make run`` (run_platform) starts.

A dedicated process rather than a beat task: it keeps turning outbox rows into events while the broker is down
(commands then back off), publishes within a fraction of a second instead of beat's schedule, and does not need a
worker slot. Several may run at once: they claim disjoint rows (SKIP LOCKED).
"""

from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from typing import Any

import structlog
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection

from core.tracing import tracing_configure
from payments.services.outbox_relay import DEFAULT_BATCH_SIZE, outbox_relay_batch

logger = structlog.get_logger(__name__)

_MAX_ERROR_SLEEP = 30.0


class Command(BaseCommand):
    help = "Publishes committed outbox rows (events, webhook deliveries, commands) until stopped."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--idle-sleep", type=float, default=0.1, help="seconds between polls of an empty outbox")
        parser.add_argument("--once", action="store_true", help="publish what is due, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        idle_sleep: float = options["idle_sleep"]
        stop = threading.Event()

        def request_stop(signum: int, _frame: object) -> None:
            # Finish (commit) the batch in hand, then leave; a hard kill is safe too, just less tidy.
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        tracing_configure(service_name="ledgerline-relay")
        logger.info("outbox_relay_started", batch_size=batch_size, idle_sleep=idle_sleep)
        error_sleep = 0.5
        while not stop.is_set():
            try:
                result = outbox_relay_batch(batch_size=batch_size)
            except DatabaseError:
                logger.exception("outbox_relay_batch_failed", retry_in=error_sleep)
                connection.close()  # reconnect on the next batch
                stop.wait(error_sleep)
                error_sleep = min(error_sleep * 2, _MAX_ERROR_SLEEP)
                continue
            error_sleep = 0.5
            if result.claimed:
                logger.info("outbox_relay_published", **result.__dict__)
            if options["once"] and result.claimed < batch_size:
                break
            if result.claimed < batch_size:
                stop.wait(idle_sleep)
        logger.info("outbox_relay_stopped")
