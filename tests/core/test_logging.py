"""Every log line is one JSON object with the agreed fields, and the request id travels with the work."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest
import structlog

from core.logging import json_formatter
from payments.services.merchants import merchant_create
from tests.conftest import json_lines


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
def test_request_lines_are_json_with_request_id_merchant_and_latency(client, log_stream):
    merchant, issued = merchant_create(name="Acme", email="ops@acme.test")
    response = client.get(
        "/v1/merchant", HTTP_AUTHORIZATION=f"Bearer {issued.secret}", HTTP_X_REQUEST_ID="req-from-upstream"
    )
    assert response.status_code == 200
    assert response["Request-Id"] == "req-from-upstream"

    lines = _lines(log_stream)
    assert lines, "no log lines were written"
    for line in lines:
        assert {"timestamp", "level", "logger", "event"} <= line.keys(), line
    finished = [line for line in lines if line["event"] == "request_finished"]
    assert len(finished) == 1
    assert finished[0]["request_id"] == "req-from-upstream"
    assert finished[0]["merchant_id"] == merchant.id
    assert isinstance(finished[0]["latency_ms"], float)
    assert str(finished[0]["timestamp"]).endswith("Z")


@pytest.mark.django_db
def test_a_request_id_is_generated_when_none_is_sent(client):
    response = client.get("/healthz")
    uuid.UUID(response["Request-Id"])  # raises if it is not a generated id
    assert client.get("/healthz")["Request-Id"] != response["Request-Id"]


def test_plain_stdlib_logging_is_rendered_as_json_too(log_stream):
    logging.getLogger("some.library").warning("disk %s is slow", "sda")
    (line,) = _lines(log_stream)
    assert line["event"] == "disk sda is slow"
    assert line["level"] == "warning"
    assert line["logger"] == "some.library"


@pytest.mark.worker
@pytest.mark.django_db
def test_request_id_follows_work_into_a_celery_task(celery_worker_process):
    from core.tasks import ping

    request_id = f"req-{uuid.uuid4().hex}"
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        result = ping.delay("trace-me")
    assert result.get(timeout=30) == {"pong": "trace-me", "request_id": request_id}

    worker_lines = json_lines(celery_worker_process.read_text())
    received = [line for line in worker_lines if line.get("event") == "ping_received"]
    assert any(line.get("request_id") == request_id for line in received), worker_lines[-10:]


def test_a_failed_request_outside_the_api_is_logged_with_its_latency(rf):
    """The "request failed" signal carries the exception and no response: the latency processor raised
    TypeError on every unhandled error outside the API (issue 12), hiding the error it was logging."""
    from django_structlog import signals

    from core.logging import _mark_request_start

    request = rf.get("/admin/somewhere")
    _mark_request_start(request)
    log_kwargs: dict[str, object] = {}
    signals.bind_extra_request_failed_metadata.send(
        sender=None,
        request=request,
        logger=structlog.get_logger(),
        exception=RuntimeError("boom"),
        log_kwargs=log_kwargs,
    )
    assert isinstance(log_kwargs["latency_ms"], float)
