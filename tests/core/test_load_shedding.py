"""Load shedding (core/load_shedding.py): a request the proxy stamped longer ago than the budget is refused with
503 + Retry-After before any work; a fresh one, and the probes, are served."""

from __future__ import annotations

import time

import pytest

from core.load_shedding import queue_wait_ms

pytestmark = pytest.mark.django_db


def test_a_request_that_waited_past_the_budget_gets_503_and_retry_after_without_being_served(client, settings):
    settings.LEDGERLINE_MAX_QUEUE_MS = 500
    stale = f"t={time.time() - 5:.3f}"
    response = client.get("/v1/payments", HTTP_X_REQUEST_START=stale)
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "service_unavailable"

    # The same request, fresh, reaches the API (which wants a key).
    assert client.get("/v1/payments", HTTP_X_REQUEST_START=f"t={time.time():.3f}").status_code == 401
    # Without a stamp there is nothing to judge by, and probes are never shed.
    assert client.get("/v1/payments").status_code == 401
    assert client.get("/healthz", HTTP_X_REQUEST_START=stale).status_code == 200


def test_shedding_is_off_at_zero(client, settings):
    settings.LEDGERLINE_MAX_QUEUE_MS = 0
    assert client.get("/v1/payments", HTTP_X_REQUEST_START=f"t={time.time() - 60:.3f}").status_code == 401


@pytest.mark.parametrize("scale", [1, 1000, 1_000_000])
def test_the_stamp_may_be_in_seconds_milliseconds_or_microseconds(scale):
    now = 1_800_000_000.0
    assert queue_wait_ms(str((now - 2) * scale), now) == pytest.approx(2000, abs=1)
    assert queue_wait_ms(f"t={now - 0.25}", now) == pytest.approx(250, abs=1)
    assert queue_wait_ms(str(now + 1), now) == 0  # a proxy clock ahead of ours is no wait
    assert queue_wait_ms("nonsense", now) is None
