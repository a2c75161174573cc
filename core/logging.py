"""Structured logging: every line, from our code, Django or Celery, is one JSON object.

Fields on every line: ``timestamp``, ``level``, ``logger``, ``event``; ``request_id`` while a request (or a task
enqueued by one) is running; ``merchant_id`` once the API key is known; ``payment_id`` in a payment's request and in
the executor's tasks; ``trace_id`` and ``span_id`` inside a traced span (core/tracing.py); ``latency_ms`` on
``request_finished``. Card numbers and secrets are redacted from every line (core/redaction.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse

from core.redaction import redact_event
from core.tracing import add_trace_ids

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    add_trace_ids,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    structlog.processors.StackInfoRenderer(),
]


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    """The formatter behind settings.LOGGING: renders structlog events and plain stdlib records alike."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Last before rendering: the message, every field and the formatted traceback (core/redaction.py).
            redact_event,
            structlog.processors.JSONRenderer(sort_keys=False, default=str),
        ],
    )


def _mark_request_start(request: HttpRequest, **_: Any) -> None:
    request._ledgerline_started_ns = time.monotonic_ns()  # type: ignore[attr-defined]


def _add_latency(
    request: HttpRequest, log_kwargs: dict[str, Any], response: HttpResponse | None = None, **_: Any
) -> None:
    # Also connected to the "request failed" signal, which carries the exception and no response.
    started = getattr(request, "_ledgerline_started_ns", None)
    if started is not None:
        log_kwargs["latency_ms"] = round((time.monotonic_ns() - started) / 1_000_000, 3)


def connect_request_signals() -> None:
    from django_structlog import signals

    signals.bind_extra_request_metadata.connect(_mark_request_start, dispatch_uid="ledgerline-start")
    signals.bind_extra_request_finished_metadata.connect(_add_latency, dispatch_uid="ledgerline-latency")
    signals.bind_extra_request_failed_metadata.connect(_add_latency, dispatch_uid="ledgerline-latency-failed")


def bind_merchant(merchant_id: str) -> None:
    """Adds the merchant to every following log line of this request or task."""
    structlog.contextvars.bind_contextvars(merchant_id=merchant_id)


def bind_payment(payment_id: str, *, merchant_id: str | None = None) -> None:
    """Adds the payment (and its merchant) to every following log line of this request or task, so one grep for
    a payment id finds the API call, the worker's provider call and the janitor's checks alike."""
    structlog.contextvars.bind_contextvars(payment_id=payment_id)
    if merchant_id:
        bind_merchant(merchant_id)


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value is not None else None


logging.captureWarnings(True)
