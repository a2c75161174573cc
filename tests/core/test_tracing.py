"""One trace from an API confirm to the worker's provider call, across real processes: gunicorn, the outbox relay
and a Celery worker export their spans over OTLP/HTTP (the standard OTEL_* variables) to a receiver in this test,
which decodes them with OpenTelemetry's own protobuf definitions."""

from __future__ import annotations

import contextlib
import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from payments.enums import PaymentStatus
from payments.models import OutboxMessage, Payment
from payments.services.merchants import api_key_create, merchant_create
from tests import processes
from tests.core.test_metrics import platform_start, wait
from tests.payments.conftest import card_payment_body


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, str]


class OtlpReceiver:
    """An OTLP/HTTP trace endpoint: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                found = []
                for resource_spans in request.resource_spans:
                    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            found.append(
                                Span(
                                    service=resource.get("service.name", ""),
                                    name=span.name,
                                    trace_id=span.trace_id.hex(),
                                    span_id=span.span_id.hex(),
                                    parent_id=span.parent_span_id.hex(),
                                    kind=span.kind,
                                    attributes={a.key: str(a.value.string_value) for a in span.attributes},
                                )
                            )
                with lock:
                    receiver.spans.extend(found)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def traced_platform(worker_env, sandbox, tmp_path) -> Iterator[tuple[str, OtlpReceiver]]:
    receiver = OtlpReceiver()
    env = {
        **worker_env,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    base, started = platform_start(env, tmp_path)
    try:
        yield base, receiver
    finally:
        for proc in started:
            processes.stop(proc)
        receiver.close()


@pytest.mark.worker
def test_one_trace_links_the_api_confirm_to_the_workers_provider_call(traced_platform, transactional_db, tmp_path):
    base, receiver = traced_platform
    merchant, _ = merchant_create(name="Traced", email="ops@traced.test", livemode=False)
    key = api_key_create(merchant=merchant, livemode=False).secret
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        created = http.post("/v1/payments", json=card_payment_body())
        assert created.status_code == 200, created.text
        payment_id = created.json()["id"]
        confirmed = http.post(f"/v1/payments/{payment_id}/confirm")
        assert confirmed.status_code == 200, confirmed.text
    logs = [tmp_path / name for name in ("web.log", "relay.log", "worker.log")]
    wait(
        lambda: Payment.objects.get(pk=payment_id).status == PaymentStatus.SUCCEEDED,
        timeout=90,
        what="the payment succeeded",
        logs=logs,
    )

    # The web process's span of the confirm request.
    def confirm_span() -> Span | None:
        return next(
            (
                s
                for s in receiver.spans
                if s.service == "ledgerline-web" and s.attributes.get("http.route", "").endswith("confirm")
            ),
            None,
        )

    wait(lambda: confirm_span() is not None, timeout=30, what="the web's confirm span", logs=logs)
    confirm = confirm_span()
    assert confirm is not None

    # The outbox row the confirm wrote carries that span's context: the hand-over point between processes.
    (command,) = OutboxMessage.objects.filter(aggregate_id=payment_id, topic="payments.execute_attempt")
    version, trace_id, parent_id, _flags = command.trace_context["traceparent"].split("-")
    assert (version, trace_id) == ("00", confirm.trace_id)
    in_trace = {s.span_id: s for s in receiver.spans if s.trace_id == confirm.trace_id}
    assert parent_id in in_trace
    assert in_trace[parent_id].service == "ledgerline-web"

    # The worker's provider call: an HTTP client span to the sandbox's authorize, in the same trace.
    def provider_call() -> Span | None:
        return next(
            (
                s
                for s in receiver.spans
                if s.trace_id == confirm.trace_id
                and s.service == "ledgerline-worker"
                and s.kind == 3  # SPAN_KIND_CLIENT
                and "/card_a/" in s.attributes.get("url.full", s.attributes.get("http.url", ""))
            ),
            None,
        )

    wait(lambda: provider_call() is not None, timeout=30, what="the worker's provider call span", logs=logs)
    call = provider_call()
    assert call is not None

    # Its ancestry, span by span: the worker's task run, the relay's publication, back to the confirm request.
    # A parent span ends (and is exported) after its children, so the whole chain may arrive a little later.
    def ancestry() -> list[Span]:
        spans = {s.span_id: s for s in receiver.spans if s.trace_id == confirm.trace_id}
        chain: list[Span] = []
        current: Span | None = call
        while current is not None:
            chain.append(current)
            current = spans.get(current.parent_id)
        return chain

    with contextlib.suppress(AssertionError):
        wait(
            lambda: ancestry()[-1].span_id == confirm.span_id,
            timeout=30,
            what="the provider call's ancestry",
            logs=logs,
        )
    chain = ancestry()
    spans = {s.span_id: s for s in receiver.spans if s.trace_id == confirm.trace_id}
    services = [s.service for s in chain]
    assert chain[-1].span_id == confirm.span_id, [(s.service, s.name) for s in chain]
    assert "ledgerline-relay" in services, [(s.service, s.name) for s in chain]
    run = next(s for s in chain if s.service == "ledgerline-worker" and "execute_attempt" in s.name)
    assert spans[run.parent_id].service == "ledgerline-relay"
