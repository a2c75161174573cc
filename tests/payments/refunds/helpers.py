"""Shared steps: a captured card payment, and the ledger's view of one refund."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from ledger.models import JournalTransaction
from payments.services.funds import funds_release_due
from tests.payments.conftest import card_payment_body
from tests.payments.execution.conftest import drain


def captured_payment(api: Any, amount: int = 2000, **overrides: Any) -> str:
    response = api.post("/v1/payments", card_payment_body(confirm=True, amount=amount, **overrides))
    assert response.status_code == 200, response.content
    drain()
    body = api.get(f"/v1/payments/{response.json()['id']}").json()
    assert body["status"] == "succeeded", body
    return str(body["id"])


def release_due(*, days: float = 3) -> int:
    """Runs the release task as it would run ``days`` from now (the pending period is 2 days): what is due by then
    moves to available."""
    return funds_release_due(now=timezone.now() + timedelta(days=days))


def ledger_refunded(refund_id: str) -> int:
    """What the ledger says the merchant paid for this refund: its posting, unless a failure reversed it."""
    posted = JournalTransaction.objects.filter(reference=f"refund:{refund_id}").first()
    if posted is None or JournalTransaction.objects.filter(reference=f"refund:{refund_id}:failed").exists():
        return 0
    return sum(e.amount for e in posted.entries.all() if e.direction == "credit")


def concurrently(count: int, call: Callable[[], int]) -> list[int]:
    """``call`` from ``count`` threads released together, each on its own database connection (closed after)."""
    barrier = threading.Barrier(count)

    def one(_: int) -> int:
        try:
            barrier.wait()
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))
