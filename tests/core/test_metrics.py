"""/metrics: who may read it, and what it says after real traffic through gunicorn, the relay, a Celery worker and
the PSP sandbox, each a process of its own writing to one multiprocess folder."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db.models import Count
from prometheus_client.parser import text_string_to_metric_families

from payments.enums import PaymentStatus
from payments.models import PaymentAttempt
from payments.services.merchants import api_key_create, merchant_create
from tests import processes
from tests.config.test_settings_shapes import PRODUCTION
from tests.payments.conftest import card_payment_body


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


# --- who may read it --------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_without_a_token_metrics_answer_on_loopback_only(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_OPEN_ON_LOOPBACK = True
    assert client.get("/healthz").status_code == 200
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = samples(response.content.decode())
    # The request just made is counted under its route, and every scrape-time collector answered.
    assert value(found, "ledgerline_http_requests_total", method="GET", route="healthz", status="200") >= 1
    for collector in ("payments_executor", "payments_providers", "reconciliation", "ledger"):
        assert value(found, "ledgerline_metrics_collector_up", collector=collector) == 1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 401


@pytest.mark.django_db
def test_a_token_is_required_once_set(client, settings):
    settings.METRICS_TOKEN = "scrape-me-3f9a"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-3f9a"})
    assert response.status_code == 200
    assert b"ledgerline_http_requests_total" in response.content


_PRODUCTION_PROBE = """
import json, django
django.setup()
from django.test import Client
c = Client(REMOTE_ADDR="127.0.0.1")
https = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "api.ledgerline.example"}
print(json.dumps({
    "loopback_no_token": c.get("/metrics", **https).status_code,
    "wrong_token": c.get("/metrics", headers={"Authorization": "Bearer nope"}, **https).status_code,
    "token": c.get("/metrics", headers={"Authorization": "Bearer prod-metrics-7c1e"}, **https).status_code,
    "plain_http_token": c.get("/metrics", headers={"Authorization": "Bearer prod-metrics-7c1e"},
                              HTTP_HOST="api.ledgerline.example").status_code,
}))
"""


@pytest.mark.django_db
def test_the_production_shape_wants_the_token_even_on_loopback(worker_env):
    env = {
        **PRODUCTION,
        "DATABASE_URL": worker_env["DATABASE_URL"],
        "REDIS_URL": worker_env["REDIS_URL"],
        "METRICS_TOKEN": "prod-metrics-7c1e",
    }
    statuses = processes.django_probe(_PRODUCTION_PROBE, env)
    # Prometheus scrapes the process directly on the private network: no redirect to https for /metrics.
    assert statuses == {"loopback_no_token": 401, "wrong_token": 401, "token": 200, "plain_http_token": 200}


# --- what it says after real traffic ------------------------------------------------------------------------------
QUEUES = "celery,psp.card_a,psp.card_b"


def platform_start(env: dict[str, str], tmp_path: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """gunicorn (2 workers), the outbox relay and a Celery worker on the card queues, each its own process."""
    port = processes.free_port()
    env = {**env, "WEB_CONCURRENCY": "2"}
    bin_dir = processes.BIN
    web = [
        str(bin_dir / "gunicorn"),
        "config.wsgi",
        "--config",
        "python:config.gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
    ]
    worker = [str(bin_dir / "celery"), "-A", "config", "worker", "--queues", QUEUES, "--concurrency", "2"]
    worker += ["--without-heartbeat", "--without-mingle", "--without-gossip"]
    worker += ["--hostname", f"platform-{uuid.uuid4().hex[:8]}@%h"]
    started = [
        processes.start(web, env, tmp_path / "web.log"),
        processes.start([sys.executable, "manage.py", "outbox_relay"], env, tmp_path / "relay.log"),
        processes.start(worker, env, tmp_path / "worker.log"),
    ]
    base = f"http://127.0.0.1:{port}"

    def web_answers() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        processes.wait_until(web_answers, timeout=60, what="gunicorn", log=tmp_path / "web.log")
    except BaseException:
        for proc in started:
            processes.stop(proc)
        raise
    return base, started


@pytest.fixture
def platform(worker_env, sandbox, tmp_path) -> Iterator[str]:
    """The platform's processes sharing one metrics folder."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    base, started = platform_start({**worker_env, "PROMETHEUS_MULTIPROC_DIR": str(folder)}, tmp_path)
    try:
        yield base
    finally:
        for proc in started:
            processes.stop(proc)


def wait(predicate, *, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


@pytest.mark.worker
def test_metrics_after_payments_through_web_relay_worker_and_sandbox(platform, transactional_db, tmp_path):
    merchant, _ = merchant_create(name="Metrics", email="ops@metrics.test", livemode=False)
    key = api_key_create(merchant=merchant, livemode=False).secret
    headers = {"Authorization": f"Bearer {key}"}
    created = []
    with httpx.Client(base_url=platform, headers=headers, timeout=30) as http:
        for _ in range(4):
            response = http.post("/v1/payments", json=card_payment_body(confirm=True))
            assert response.status_code == 200, response.text
            created.append(response.json()["id"])
        assert http.get(f"/v1/payments/{created[0]}").status_code == 200
        assert http.get("/v1/payments/pay_doesnotexist").status_code == 404

        def all_succeeded() -> bool:
            from payments.models import Payment

            return set(Payment.objects.filter(pk__in=created).values_list("status", flat=True)) == {
                PaymentStatus.SUCCEEDED
            }

        logs = [tmp_path / name for name in ("web.log", "relay.log", "worker.log")]
        wait(all_succeeded, timeout=90, what="every payment succeeded", logs=logs)
        # A scrape from loopback (the test shape has no METRICS_TOKEN): figures of all three processes.
        response = http.get("/metrics", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    found = samples(response.text)

    # Requests, by route pattern (never the raw path with its id), from both gunicorn workers added up.
    assert value(found, "ledgerline_http_requests_total", method="POST", route="v1/payments", status="200") == 4
    assert (
        value(found, "ledgerline_http_requests_total", method="GET", route="v1/payments/<str:payment_id>", status="200")
        == 1
    )
    assert (
        value(found, "ledgerline_http_requests_total", method="GET", route="v1/payments/<str:payment_id>", status="404")
        == 1
    )
    assert value(found, "ledgerline_http_request_duration_seconds_count", method="POST", route="v1/payments") == 4

    # Provider calls as the worker made them: exactly the attempts the database holds, by connector and outcome.
    stored = PaymentAttempt.objects.filter(payment_id__in=created).values("connector", "operation", "outcome")
    for row in stored.annotate(n=Count("id")).order_by():
        assert (
            value(
                found,
                "ledgerline_provider_call_duration_seconds_count",
                connector=row["connector"],
                operation=row["operation"],
                outcome=row["outcome"],
            )
            == row["n"]
        ), row
    assert sum(row["n"] for row in stored.annotate(n=Count("id")).order_by()) >= 4

    # Payments reaching a status: processing counted by the web process at confirm, succeeded by the worker.
    assert value(found, "ledgerline_payments_total", status="processing", method="card", connector="none") == 4
    succeeded = sum(
        v
        for (name, labels), v in found.items()
        if name == "ledgerline_payments_total" and ("status", "succeeded") in labels
    )
    assert succeeded == 4

    # The executor's tasks on the provider queue: run time, and the wait since the relay published them.
    attempts_run = sum(
        v
        for (name, labels), v in found.items()
        if name == "ledgerline_celery_task_duration_seconds_count" and ("task", "payments.execute_attempt") in labels
    )
    # At least one run per attempt. Delivery is at least once: under load a command can run again (a redelivery, a
    # claim that found the attempt busy), and such a run calls no provider, which the exact count above proves.
    assert attempts_run >= sum(row["n"] for row in stored.annotate(n=Count("id")).order_by())
    assert value(found, "ledgerline_celery_task_queue_wait_seconds_count", queue="psp.card_a") >= 4

    # Read at scrape time: circuits closed, nothing in doubt, the outbox drained, queues empty.
    assert value(found, "ledgerline_circuit_state", connector="card_a", state="closed") == 1
    assert value(found, "ledgerline_circuit_state", connector="card_a", state="open") == 0
    assert value(found, "ledgerline_attempts_needing_review") == 0
    assert ("ledgerline_outbox_lag_seconds", frozenset()) in found
    assert value(found, "ledgerline_celery_queue_depth", queue="psp.card_a") == 0
