"""Celery tasks of the payments app: thin, each loads by id and calls one service."""

from __future__ import annotations

import structlog
from celery import shared_task

from payments.exceptions import PaymentStateError
from payments.services import execution, provider_events
from payments.services.idempotency import idempotency_keys_delete_expired
from payments.services.payments import payment_expire, payment_ids_overdue

logger = structlog.get_logger(__name__)


@shared_task(name="payments.idempotency_keys_delete_expired")
def idempotency_keys_delete_expired_task() -> int:
    deleted = idempotency_keys_delete_expired()
    logger.info("idempotency_keys_deleted", count=deleted)
    return deleted


@shared_task(name="payments.payments_expire_overdue")
def payments_expire_overdue_task() -> int:
    """Expires UPI payments nobody approved in time and authorizations nobody captured (beat, every minute)."""
    expired = 0
    for payment_id in payment_ids_overdue():
        try:
            payment_expire(payment_id=payment_id)
        except PaymentStateError:
            continue  # settled between the query and the lock: nothing to expire
        expired += 1
    if expired:
        logger.info("payments_expired", count=expired)
    return expired


# --- the executor (issue 5). Each task takes an id, calls one service and is safe to run twice. ---------------
@shared_task(name="payments.execute_attempt")
def execute_attempt(attempt_id: str) -> str:
    """Sends one attempt to its provider (runs on the provider's own queue) and applies the outcome."""
    return execution.attempt_execute(attempt_id=attempt_id)


@shared_task(name="payments.check_attempt")
def check_attempt(attempt_id: str) -> str:
    """Asks the provider what became of an attempt (unknown outcome, stale claim, payer still deciding)."""
    return execution.attempt_check(attempt_id=attempt_id)


@shared_task(name="payments.attempts_janitor")
def attempts_janitor() -> dict[str, int]:
    """Beat: hands every attempt that is due for a look to its provider's queue."""
    found = execution.attempts_janitor()
    if any(found.values()):
        logger.info("attempts_janitor", **found)
    return found


@shared_task(name="payments.apply_provider_event")
def apply_provider_event(event_pk: int) -> str:
    return provider_events.provider_event_apply(event_pk=event_pk)
