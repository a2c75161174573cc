"""Liveness and readiness.

``/healthz`` says only that the process answers; ``/readyz`` says whether it can do work, naming every
dependency that is down, so a load balancer stops sending traffic and an operator knows where to look.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from kombu import Connection

_CHECK_TIMEOUT_SECONDS = 2


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    with Connection(
        settings.CELERY_BROKER_URL,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        connect_timeout=_CHECK_TIMEOUT_SECONDS,
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=_CHECK_TIMEOUT_SECONDS)


def check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was written")
    cache.delete(key)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
}


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    failing: list[str] = []
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
            failing.append(name)
        else:
            results[name] = "ok"
    body = {"status": "unavailable" if failing else "ok", "checks": results, "failing": failing}
    return JsonResponse(body, status=503 if failing else 200)


def platform_wait_ready(*, web: str, sandbox: str, queues: list[str], timeout: float) -> list[str]:
    """Waits until the whole platform that ``make run`` starts answers; returns what still does not after
    ``timeout`` seconds (empty when everything does).

    The web server must pass its own readiness (``/readyz``: database, broker, cache), the sandbox its health check,
    and a worker on every queue must execute a ping: a started process is not yet one that does work.
    """
    from core.tasks import ping  # a task module: only this helper needs it, not every request

    deadline = time.monotonic() + timeout
    pings = {queue: ping.apply_async(args=(f"ready:{queue}",), queue=queue) for queue in queues}
    waiting = {"web": f"{web}/readyz", "PSP sandbox": f"{sandbox}/healthz"}
    while waiting and time.monotonic() < deadline:
        for name, url in list(waiting.items()):
            try:
                if httpx.get(url, timeout=_CHECK_TIMEOUT_SECONDS).status_code == 200:
                    del waiting[name]
            except httpx.HTTPError:
                pass
        if waiting:
            time.sleep(0.5)
    missing = list(waiting)
    for queue, result in pings.items():
        try:
            result.get(timeout=max(deadline - time.monotonic(), 0.1))
        except Exception:  # a timeout, or a worker that failed the task: either way it does not answer
            missing.append(f"worker on {queue}")
    return missing
