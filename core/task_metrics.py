"""Celery task metrics: how long tasks wait in their queue and how long they run, by queue and task.

The publisher stamps each message with the time it was sent (a header), so the worker can tell the wait in the
queue from the run itself: a growing wait with steady run times means too few workers, not a slow provider.
"""

from __future__ import annotations

import time
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_process_shutdown
from prometheus_client import Counter, Histogram

from core.metrics import LATENCY_BUCKETS, mark_process_dead

_SENT_AT_HEADER = "ledgerline_sent_at"

TASK_RUNTIME = Histogram(
    "ledgerline_celery_task_duration_seconds",
    "Time a task ran in its worker, by queue and task",
    ["queue", "task"],
    buckets=LATENCY_BUCKETS,
)
TASK_WAIT = Histogram(
    "ledgerline_celery_task_queue_wait_seconds",
    "Time between a task's publication and its start in a worker, by queue",
    ["queue"],
    buckets=(*LATENCY_BUCKETS, 120.0, 300.0, 900.0),
)
TASKS = Counter("ledgerline_celery_tasks_total", "Tasks finished, by queue, task and state", ["queue", "task", "state"])

_started: dict[str, float] = {}


def _queue(task: Any) -> str:
    delivery = getattr(task.request, "delivery_info", None) or {}
    return str(delivery.get("routing_key") or delivery.get("exchange") or "celery")


@before_task_publish.connect(weak=False)
def _stamp(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers.setdefault(_SENT_AT_HEADER, time.time())


@task_prerun.connect(weak=False)
def _start(task_id: str = "", task: Any = None, **_: Any) -> None:
    if task is None:
        return
    _started[task_id] = time.perf_counter()
    sent_at = getattr(task.request, _SENT_AT_HEADER, None)
    if sent_at is None:
        sent_at = (getattr(task.request, "headers", None) or {}).get(_SENT_AT_HEADER)
    if isinstance(sent_at, int | float):
        TASK_WAIT.labels(_queue(task)).observe(max(time.time() - float(sent_at), 0.0))


@task_postrun.connect(weak=False)
def _finish(task_id: str = "", task: Any = None, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id, None)
    if task is None or started is None:
        return
    queue = _queue(task)
    TASK_RUNTIME.labels(queue, task.name).observe(time.perf_counter() - started)
    TASKS.labels(queue, task.name, state or "unknown").inc()


@worker_process_shutdown.connect(weak=False)
def _process_gone(pid: int | None = None, **_: Any) -> None:
    if pid is not None:
        mark_process_dead(pid)
