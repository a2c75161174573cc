"""OpenTelemetry tracing: spans across HTTP requests, PostgreSQL, Redis, Celery tasks and outgoing HTTP (provider
and webhook calls), with the official instrumentation packages.

Configured by the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console`` for development, ``none``),
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_SERVICE_NAME``,
``OTEL_TRACES_SAMPLER``, ``OTEL_SDK_DISABLED``. Tracing is on when an exporter or an OTLP endpoint is named, in any
shape; otherwise (the embedded shape's default, and any shape that asks for nothing) it stays off and costs
nothing.

Each process configures itself once, after any fork (the batch exporter owns a thread): gunicorn workers when
config/wsgi.py loads, Celery's pool processes on ``worker_process_init`` (or ``worker_init`` for the solo and
threads pools), the outbox relay in its command.

Work handed over through the outbox keeps its trace: the outbox row stores the W3C ``traceparent`` of the span
that wrote it (:func:`trace_context_current`), the relay publishes the task under that context
(:func:`trace_context_attached`) and the worker's Celery instrumentation continues the trace from the task's
headers, so an API confirm and the worker's provider call are one trace.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

_configured = False
_lock = threading.Lock()


def tracing_requested() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def tracing_configure(*, service_name: str, instrument_django: bool = False) -> bool:
    """Sets up the tracer provider, its exporter and the instrumentations for this process; True when tracing is
    on. Safe to call more than once."""
    global _configured
    if not tracing_requested():
        return False
    with _lock:
        if _configured:
            return True
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

        resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service_name})
        provider = TracerProvider(resource=resource)
        exporter: SpanExporter
        if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "console":
            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        if instrument_django:
            from opentelemetry.instrumentation.django import DjangoInstrumentor

            DjangoInstrumentor().instrument()
        PsycopgInstrumentor().instrument(enable_commenter=False)
        RedisInstrumentor().instrument()
        HTTPXClientInstrumentor().instrument()
        CeleryInstrumentor().instrument()  # type: ignore[no-untyped-call]
        _configured = True
        return True


def tracing_flush() -> None:
    """Exports what is buffered (a process about to exit)."""
    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        force_flush()


def trace_context_current() -> dict[str, str]:
    """The current span's W3C context (``traceparent``, ``tracestate``), to store with work handed on; empty when
    no trace is being recorded."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def trace_context_attached(carrier: MutableMapping[str, Any] | None) -> Iterator[None]:
    """Runs the block as part of the trace whose context ``carrier`` holds (nothing changes when it is empty)."""
    if not carrier:
        yield
        return
    token = otel_context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


def add_trace_ids(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current trace and span ids on every log line written inside a span."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
    return event_dict
