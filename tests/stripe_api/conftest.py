"""The whole platform, live, for the official Stripe SDK to talk to: gunicorn, the outbox relay and a worker on
every queue, against the test database and the session's PSP sandbox. Tests use only the SDK's public API."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator

import pytest
import stripe
from django.conf import settings

from payments.services.merchants import merchant_create
from tests import processes

pytestmark = pytest.mark.django_db(transaction=True)


def _queues() -> str:
    provider_queues = {str(c.get("queue") or f"psp.{n}") for n, c in settings.PSP_CONNECTORS.items()}
    return ",".join(["celery", settings.WEBHOOKS_QUEUE, *sorted(provider_queues)])


@pytest.fixture(scope="session")
def platform_url(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("stripe_platform")
    port = processes.free_port()
    env = {**worker_env, "LEDGERLINE_API_RATE": "100000/s", "WEBHOOKS_RETRY_BASE_SECONDS": "1"}
    started = [
        processes.start(
            [str(processes.BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
            {**env, "PORT": str(port), "WEB_CONCURRENCY": "2"},
            logs / "gunicorn.log",
        ),
        processes.start([sys.executable, "manage.py", "outbox_relay"], env, logs / "relay.log"),
        processes.start(
            [
                str(processes.BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--queues",
                _queues(),
                "--pool",
                "threads",
                "--concurrency",
                "4",
                "--loglevel",
                "INFO",
                "--hostname",
                f"stripe-{uuid.uuid4().hex[:8]}@%h",
            ],
            env,
            logs / "worker.log",
        ),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until(
            lambda: processes.http_ok(f"{base}/healthz"), timeout=60, what="gunicorn", log=logs / "gunicorn.log"
        )
        yield base
    finally:
        for proc in started:
            processes.stop(proc)
        server_log = (logs / "gunicorn.log").read_text(errors="replace")
        assert "Traceback" not in server_log, server_log[-4000:]


@pytest.fixture
def stripe_key(platform_url: str, transactional_db: None) -> Iterator[str]:
    """A fresh merchant's test key, and the SDK pointed at the platform: the one line a merchant changes."""
    _, issued = merchant_create(name="Stripe Shop", email=f"ops-{uuid.uuid4().hex[:6]}@stripe-shop.test")
    saved = (stripe.api_key, stripe.api_base)
    # The SDK's defaults otherwise, network retries included: every POST then carries an Idempotency-Key.
    stripe.api_key = issued.secret
    stripe.api_base = f"{platform_url}/stripe"
    try:
        yield issued.secret
    finally:
        stripe.api_key, stripe.api_base = saved
