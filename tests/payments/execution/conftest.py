from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models.functions import Now

from payments import tasks
from payments.enums import OutboxKind
from payments.models import OutboxMessage, Payment, PaymentAttempt
from tests.payments.conftest import Api, make_api

TASKS: dict[str, Callable[..., Any]] = {
    "payments.execute_attempt": tasks.execute_attempt,
    "payments.check_attempt": tasks.check_attempt,
    "payments.apply_provider_event": tasks.apply_provider_event,
    "payments.dispute_respond": tasks.dispute_respond,
}


def drain(*, rounds: int = 20, include_future: bool = False) -> list[str]:
    """Runs due outbox commands in this process, as the relay and the provider workers would, until none is left."""
    done: list[str] = []
    for _ in range(rounds):
        due = OutboxMessage.objects.filter(kind=OutboxKind.COMMAND, published_at=None)
        if not include_future:
            due = due.filter(available_at__lte=Now())
        rows = list(due.order_by("id"))
        if not rows:
            break
        for row in rows:
            OutboxMessage.objects.filter(pk=row.pk).update(published_at=Now())
            done.append(f"{row.topic}:{TASKS[row.topic](**row.payload)}")
    return done


def janitor() -> list[str]:
    """Makes every open attempt due now, runs the janitor, and the checks it hands out."""
    PaymentAttempt.objects.exclude(next_check_at=None).update(next_check_at=Now())
    tasks.attempts_janitor()
    return drain()


@pytest.fixture
def api(transactional_db: None) -> Api:
    # Executor tests commit for real: the database clock (now()) must move, as it does between real transactions.
    return make_api()


def payment(payment_id: str) -> Payment:
    return Payment.objects.get(pk=payment_id)


def attempts(payment_id: str) -> list[PaymentAttempt]:
    return list(PaymentAttempt.objects.filter(payment_id=payment_id).order_by("id"))
