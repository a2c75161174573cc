"""Celery tasks of the payments app: thin, each loads by id and calls one service."""

from __future__ import annotations

import structlog
from celery import shared_task

from payments.exceptions import PaymentStateError
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
