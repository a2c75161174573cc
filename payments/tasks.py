"""Celery tasks of the payments app: thin, each loads by id and calls one service."""

from __future__ import annotations

from typing import Any

import structlog
from celery import shared_task

from payments.enums import CheckoutSessionStatus
from payments.exceptions import PaymentStateError
from payments.services import events as events_service
from payments.services import outbox_relay, provider_events, webhook_deliveries
from payments.services.attempts import call, janitor
from payments.services.checkout import checkout_session_expire_if_due, checkout_session_ids_overdue
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


@shared_task(name="payments.checkout_sessions_expire_overdue")
def checkout_sessions_expire_overdue_task() -> int:
    """Expires open checkout sessions whose time is up and that have no payment in flight (beat, every minute)."""
    expired = 0
    for session_id in checkout_session_ids_overdue():
        if checkout_session_expire_if_due(session_id=session_id).status == CheckoutSessionStatus.EXPIRED:
            expired += 1
    if expired:
        logger.info("checkout_sessions_expired", count=expired)
    return expired


# --- the executor (issue 5). Each task takes an id, calls one service and is safe to run twice. ---------------
# ignore_result on the executor's tasks: nobody reads their return value (it is logged), and storing it was a
# Redis write per attempt.
@shared_task(name="payments.execute_attempt", ignore_result=True)
def execute_attempt(attempt_id: str) -> str:
    """Sends one attempt to its provider (runs on the provider's own queue) and applies the outcome."""
    return call.attempt_execute(attempt_id=attempt_id)


@shared_task(name="payments.check_attempt", ignore_result=True)
def check_attempt(attempt_id: str) -> str:
    """Asks the provider what became of an attempt (unknown outcome, stale claim, payer still deciding)."""
    return janitor.attempt_check(attempt_id=attempt_id)


@shared_task(name="payments.attempts_janitor")
def attempts_janitor() -> dict[str, int]:
    """Beat: hands every attempt that is due for a look to its provider's queue."""
    found = janitor.attempts_janitor()
    if any(found.values()):
        logger.info("attempts_janitor", **found)
    return found


@shared_task(name="payments.apply_provider_event", ignore_result=True)
def apply_provider_event(event_pk: int) -> str:
    return provider_events.provider_event_apply(event_pk=event_pk)


@shared_task(name="payments.provider_events_sweep", ignore_result=True)
def provider_events_sweep() -> int:
    """Beat: provider webhooks whose apply was lost are handed out again."""
    return provider_events.provider_events_sweep()


# --- Events and webhooks ---------------------------------------------------------------------------------------


# ignore_result: nobody reads it, and storing it was a Redis round trip per delivery.
@shared_task(name="payments.webhook_deliver", acks_late=True, ignore_result=True, soft_time_limit=40, time_limit=60)
def webhook_deliver(delivery_id: str) -> dict[str, Any]:
    """One attempt at one delivery, on the ``webhooks`` queue (its own workers, so a slow merchant endpoint never
    delays payments work). The request itself has a 10 s hard deadline; the time limits are the backstop."""
    outcome = webhook_deliveries.webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.result == "deferred":
        # The endpoint already has its share of workers busy: come back shortly rather than hold a worker.
        webhook_deliveries.webhook_deliveries_enqueue(delivery_ids=[delivery_id], countdown=1.0)
    return {"delivery_id": delivery_id, "result": outcome.result, "status_code": outcome.status_code}


@shared_task(name="payments.webhooks_dispatch_due")
def webhooks_dispatch_due() -> int:
    """Beat, every few seconds: enqueues scheduled retries and deliveries whose task was lost."""
    return webhook_deliveries.webhook_deliveries_dispatch_due()


@shared_task(name="payments.events_prune")
def events_prune() -> dict[str, int]:
    """Beat, hourly: events past their 30-day retention, and outbox rows published a week ago."""
    return {"events": events_service.events_prune(), "outbox": outbox_relay.outbox_prune()}


# --- balances and payouts (issue 7) ------------------------------------------------------------------------------
@shared_task(name="payments.funds_release_due")
def funds_release_due() -> int:
    """Beat: captured funds that are due move from pending to available (a ledger transfer)."""
    from payments.services.funds import funds_release_due as release

    return release()


@shared_task(name="payments.payouts_advance_due")
def payouts_advance_due() -> dict[str, int]:
    """Beat: the simulated bank moves payouts along."""
    from payments.services.payouts import payouts_advance_due as advance

    return advance()


@shared_task(name="payments.dispute_respond")
def dispute_respond(dispute_id: str, action: str) -> str:
    """Sends a dispute's evidence (or its acceptance) to the provider, on the provider's queue."""
    from payments.services.disputes import dispute_respond as respond

    return respond(dispute_id=dispute_id, action=action)
