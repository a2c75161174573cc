"""Webhook deliveries: the only write path.

A delivery's life: the relay creates it with its event (same transaction) and enqueues a task after commit; the
task claims it (``in_flight_until``), POSTs outside any transaction, then records the attempt and either marks it
succeeded or schedules the next try on an exponential, jittered backoff for up to three days. The dispatcher (a
beat task) re-enqueues whatever is due, which covers both scheduled retries and tasks lost before a worker saw
them. Deliveries are at-least-once: receivers dedupe by event id.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.db import lock_rows, skip_locked
from payments.enums import WebhookDeliveryStatus, WebhookEndpointStatus
from payments.metrics import webhook_delivery_count
from payments.models import Event, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from payments.services.webhook_endpoints import webhook_endpoint_disable_locked, webhook_signing_secrets
from payments.services.webhook_formats import webhook_format_body
from payments.services.webhook_transport import HttpResult, webhook_post

logger = structlog.get_logger(__name__)

DELIVER_TASK = "payments.webhook_deliver"

# After a delivery is enqueued, the dispatcher leaves it alone this long before assuming the task was lost.
_ENQUEUE_LEASE = timedelta(minutes=5)
# A claimed delivery counts as in flight this long: more than the 10 s request plus the task's hard time limit.
_IN_FLIGHT_LEASE = timedelta(seconds=75)
_JITTER = 0.25  # ±25 %: enough to spread a thundering herd, small enough that each delay still outgrows the last
_rng = random.SystemRandom()


@dataclass(frozen=True)
class DeliveryAttemptResult:
    """What one call of :func:`webhook_delivery_attempt` did. ``result`` is one of ``succeeded``, ``retrying``
    (failed, next try scheduled), ``failed`` (given up), ``deferred`` (endpoint at its in-flight cap: try again
    shortly, nothing was sent) or ``skipped`` (nothing to do: gone, already done, or in flight elsewhere)."""

    delivery_id: str
    result: str
    status_code: int | None = None
    error: str = ""
    next_attempt_at: datetime | None = None


def webhook_deliveries_create(*, events: Sequence[Event], now: datetime | None = None) -> list[WebhookDelivery]:
    """Fans new events out to every endpoint of their merchant and mode that subscribes to their type; returns the
    deliveries to send.

    A disabled endpoint gets its delivery too, failed from the start and never sent: the event is listed as
    undelivered (``delivery_success=false``, as the disable email says) and is sent once the endpoint is enabled
    again and its missed events resent (:func:`webhook_endpoint_resend_missed`). Runs inside the relay's
    transaction, so a delivery exists exactly when its event does; the caller enqueues them after commit
    (:func:`webhook_deliveries_enqueue`).
    """
    if not events:
        return []
    now = now or timezone.now()
    endpoints: dict[tuple[str, bool], list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in WebhookEndpoint.objects.filter(merchant_id__in={e.merchant_id for e in events}):
        endpoints[(endpoint.merchant_id, endpoint.livemode)].append(endpoint)
    deliveries = [
        WebhookDelivery(
            event=event,
            endpoint=endpoint,
            next_attempt_at=now + _ENQUEUE_LEASE,
            status=(
                WebhookDeliveryStatus.PENDING
                if endpoint.status == WebhookEndpointStatus.ENABLED
                else WebhookDeliveryStatus.FAILED
            ),
        )
        for event in events
        for endpoint in endpoints[(event.merchant_id, event.livemode)]
        if endpoint.subscribes_to(event.type)
    ]
    created = WebhookDelivery.objects.bulk_create(deliveries)
    return [d for d in created if d.status == WebhookDeliveryStatus.PENDING]


def webhook_endpoint_resend_missed(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> int:
    """Sends again, in bulk, every delivery of an enabled endpoint that was given up on or never sent (events
    emitted while it was disabled): back to pending, enqueued now. Returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        locked: WebhookEndpoint = lock_rows(WebhookEndpoint.objects.filter(pk=endpoint.pk)).get()
        if locked.status != WebhookEndpointStatus.ENABLED:
            return 0
        missed = WebhookDelivery.objects.filter(endpoint=locked, status=WebhookDeliveryStatus.FAILED)
        ids = list(skip_locked(missed.order_by("created", "id")).values_list("id", flat=True))
        WebhookDelivery.objects.filter(pk__in=ids).update(
            status=WebhookDeliveryStatus.PENDING, next_attempt_at=now + _ENQUEUE_LEASE, in_flight_until=None
        )
        webhook_deliveries_enqueue(delivery_ids=ids)
    logger.info("webhook_endpoint_missed_resent", endpoint_id=endpoint.id, count=len(ids))
    return len(ids)


def webhook_deliveries_enqueue(*, delivery_ids: Sequence[str], countdown: float | None = None) -> None:
    """Sends one delivery task per id to the webhooks queue once the current transaction commits.

    If the broker is down the rest are left to the dispatcher, which re-enqueues them when their lease ends:
    nothing is lost, and the caller is not held up by one connection timeout per delivery.
    """
    ids = list(delivery_ids)
    if not ids:
        return

    def send() -> None:
        for delivery_id in ids:
            try:
                current_app.send_task(
                    DELIVER_TASK,
                    args=[delivery_id],
                    queue=settings.WEBHOOKS_QUEUE,
                    countdown=countdown,
                    retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
                )
            except Exception:  # kombu raises a zoo of transport errors; any of them means "try later"
                logger.warning("webhook_enqueue_failed", delivery_id=delivery_id, left_to_dispatcher=len(ids))
                return

    transaction.on_commit(send)


def webhook_deliveries_claim_due(*, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Claims pending deliveries whose time has come (``SKIP LOCKED``: concurrent dispatchers take disjoint
    rows), gives each a fresh enqueue lease and returns their ids for enqueueing."""
    now = now or timezone.now()
    with transaction.atomic():
        due = WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now)
        ids = list(skip_locked(due.order_by("next_attempt_at")).values_list("id", flat=True)[:limit])
        if ids:
            WebhookDelivery.objects.filter(id__in=ids).update(next_attempt_at=now + _ENQUEUE_LEASE)
    return ids


def webhook_deliveries_dispatch_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """The dispatcher: claims what is due and enqueues it (after the claim commits)."""
    with transaction.atomic():
        ids = webhook_deliveries_claim_due(now=now, limit=limit)
        webhook_deliveries_enqueue(delivery_ids=ids)
    return len(ids)


def webhook_delivery_resend(*, delivery: WebhookDelivery, now: datetime | None = None) -> WebhookDelivery:
    """Sends a delivery again, whatever its state (the admin's "resend"): back to pending, enqueued now."""
    now = now or timezone.now()
    with transaction.atomic():
        locked: WebhookDelivery = lock_rows(WebhookDelivery.objects.filter(pk=delivery.pk)).get()
        locked.status = WebhookDeliveryStatus.PENDING
        locked.next_attempt_at = now + _ENQUEUE_LEASE
        locked.in_flight_until = None
        locked.save(update_fields=["status", "next_attempt_at", "in_flight_until"])
        webhook_deliveries_enqueue(delivery_ids=[locked.id])
    return locked


def webhook_retry_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """How long to wait after the ``attempt``-th failure: ``WEBHOOKS_RETRY_BASE_SECONDS`` (1 min), doubling up to
    ``WEBHOOKS_RETRY_CAP_SECONDS`` (12 h), ±25 % jitter. The demo and tests set seconds."""
    first, cap = float(settings.WEBHOOKS_RETRY_BASE_SECONDS), float(settings.WEBHOOKS_RETRY_CAP_SECONDS)
    base = min(first * 2 ** (attempt - 1), cap)
    return timedelta(seconds=base * (rng or _rng).uniform(1 - _JITTER, 1 + _JITTER))


@dataclass(frozen=True)
class _Claim:
    delivery_id: str
    endpoint_id: str
    endpoint_failing: bool
    target_url: str
    body: bytes
    secrets: list[str]
    event_id: str
    signature_header: str


def webhook_delivery_attempt(*, delivery_id: str, now: datetime | None = None) -> DeliveryAttemptResult:
    """Makes one attempt at a delivery: claim, POST (no transaction open), record.

    ``now`` drives the schedule (retry times, the retry window, leases) so tests control time without sleeping;
    the signature's timestamp is always the wall clock, because receivers check it against theirs.
    """
    now = now or timezone.now()
    claim = _claim(delivery_id=delivery_id, now=now)
    if isinstance(claim, DeliveryAttemptResult):
        webhook_delivery_count(claim.result)
        return claim
    result = webhook_post(
        url=claim.target_url,
        body=claim.body,
        secrets=claim.secrets,
        event_id=claim.event_id,
        signature_header=claim.signature_header,
    )
    outcome = _record(claim, result, now=now)
    webhook_delivery_count(outcome.result)
    return outcome


def _claim(*, delivery_id: str, now: datetime) -> _Claim | DeliveryAttemptResult:
    lease = now + _IN_FLIGHT_LEASE
    # One statement claims it: a duplicate task, or a second worker racing this one, matches no row.
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDeliveryStatus.PENDING)
        .filter(Q(in_flight_until=None) | Q(in_flight_until__lte=now))
        .update(in_flight_until=lease)
    )
    if not claimed:
        status = WebhookDelivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
        if status is None:
            reason = "delivery no longer exists"
        elif status == WebhookDeliveryStatus.PENDING:
            reason = "delivery in flight elsewhere"
        else:
            reason = f"delivery already {status}"
        return DeliveryAttemptResult(delivery_id, "skipped", error=reason)
    delivery = WebhookDelivery.objects.select_related("event", "endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return DeliveryAttemptResult(delivery_id, "skipped", error="delivery no longer exists")
    endpoint = delivery.endpoint
    if endpoint.status == WebhookEndpointStatus.DISABLED:
        WebhookDelivery.objects.filter(pk=delivery_id).update(status=WebhookDeliveryStatus.FAILED, in_flight_until=None)
        return DeliveryAttemptResult(delivery_id, "failed", error="endpoint disabled")
    # A soft cap (no lock): claims racing for one endpoint may overshoot it by their number, never run away.
    in_flight = WebhookDelivery.objects.filter(endpoint_id=endpoint.id, in_flight_until__gt=now).count()
    if in_flight > settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT:
        WebhookDelivery.objects.filter(pk=delivery_id, in_flight_until=lease).update(in_flight_until=None)
        return DeliveryAttemptResult(delivery_id, "deferred", error="endpoint at its in-flight cap")
    body, signature_header = webhook_format_body(delivery.event, endpoint.format)
    return _Claim(
        delivery_id=delivery_id,
        endpoint_id=endpoint.id,
        endpoint_failing=bool(endpoint.consecutive_failures or endpoint.failing_since),
        target_url=endpoint.url,
        body=body,
        secrets=webhook_signing_secrets(endpoint_id=endpoint.id, now=now),
        event_id=delivery.event_id,
        signature_header=signature_header,
    )


def _attempt_row(delivery_id: str, claim: _Claim, result: HttpResult, now: datetime) -> WebhookDeliveryAttempt:
    return WebhookDeliveryAttempt.objects.create(
        delivery_id=delivery_id,
        attempted_at=now,
        url=claim.target_url,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        response_excerpt=result.excerpt,
        error=result.error,
        succeeded=result.succeeded,
    )


def _record(claim: _Claim, result: HttpResult, *, now: datetime) -> DeliveryAttemptResult:
    if result.succeeded:
        # The common case takes no lock beyond the delivery row's own update.
        with transaction.atomic():
            updated = WebhookDelivery.objects.filter(pk=claim.delivery_id).update(
                status=WebhookDeliveryStatus.SUCCEEDED,
                succeeded_at=now,
                last_attempt_at=now,
                in_flight_until=None,
                attempt_count=F("attempt_count") + 1,
            )
            if not updated:
                return DeliveryAttemptResult(claim.delivery_id, "skipped", result.status_code, "deleted meanwhile")
            _attempt_row(claim.delivery_id, claim, result, now)
            if claim.endpoint_failing:
                WebhookEndpoint.objects.filter(pk=claim.endpoint_id).update(consecutive_failures=0, failing_since=None)
        return DeliveryAttemptResult(claim.delivery_id, "succeeded", result.status_code)

    with transaction.atomic():
        # Lock order: endpoint, then delivery (as everywhere a transaction takes both).
        endpoint: WebhookEndpoint | None = lock_rows(WebhookEndpoint.objects.filter(pk=claim.endpoint_id)).first()
        delivery: WebhookDelivery | None = lock_rows(WebhookDelivery.objects.filter(pk=claim.delivery_id)).first()
        if endpoint is None or delivery is None:
            return DeliveryAttemptResult(claim.delivery_id, "skipped", result.status_code, "deleted meanwhile")
        _attempt_row(delivery.id, claim, result, now)
        delivery.attempt_count += 1
        delivery.last_attempt_at = now
        delivery.in_flight_until = None
        retry_at = now + webhook_retry_delay(delivery.attempt_count)
        next_at: datetime | None = retry_at
        outcome = "retrying"
        if retry_at > delivery.created + timedelta(seconds=settings.WEBHOOKS_RETRY_WINDOW_SECONDS):
            delivery.status = WebhookDeliveryStatus.FAILED
            outcome, next_at = "failed", None
        else:
            delivery.next_attempt_at = retry_at
        delivery.save()
        endpoint.consecutive_failures += 1
        endpoint.failing_since = endpoint.failing_since or now
        endpoint.save(update_fields=["consecutive_failures", "failing_since"])
        failing_for = now - endpoint.failing_since
        if (
            failing_for >= timedelta(seconds=settings.WEBHOOKS_DISABLE_AFTER_SECONDS)
            and endpoint.consecutive_failures >= settings.WEBHOOKS_DISABLE_AFTER_FAILURES
        ):
            days = failing_for.total_seconds() / 86400
            reason = f"every delivery failed for {days:.1f} days ({endpoint.consecutive_failures} attempts in a row)"
            webhook_endpoint_disable_locked(endpoint=endpoint, reason=reason, notify=True, now=now)
    logger.info(
        "webhook_delivery_failed",
        delivery_id=claim.delivery_id,
        endpoint_id=claim.endpoint_id,
        status_code=result.status_code,
        error=result.error,
        outcome=outcome,
    )
    return DeliveryAttemptResult(claim.delivery_id, outcome, result.status_code, result.error, next_at)
