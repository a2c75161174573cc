"""Provider webhooks: each stored once by (connector, provider event id), then applied by a task.

Recording and scheduling the apply commit together (outbox), so an acknowledged event is never lost; a repeat
delivery of the same event is a no-op that only counts deliveries, and a different body under an id already seen
is refused (a different fact under the same id is never silently accepted).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from payments.connectors import registry
from payments.connectors.base import ProviderWebhookEvent
from payments.models import PaymentAttempt, ProviderEvent
from payments.services.attempts.apply import attempt_result_apply
from payments.services.disputes import dispute_apply_provider_dispute
from payments.services.outbox import outbox_command_add

logger = structlog.get_logger(__name__)

APPLY_PROVIDER_EVENT_TASK = "payments.apply_provider_event"


class ProviderEventConflictError(Exception):
    pass


@dataclass(frozen=True)
class Recorded:
    event: ProviderEvent
    created: bool


def _canonical_sha256(body: bytes) -> str:
    # Key order and whitespace are transport details; the fact is the parsed JSON.
    return hashlib.sha256(json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def provider_event_record(*, event: ProviderWebhookEvent, body: bytes) -> Recorded:
    digest = _canonical_sha256(body)
    try:
        with transaction.atomic():
            row = ProviderEvent.objects.create(
                connector=event.connector,
                event_id=event.id,
                type=event.type,
                body_sha256=digest,
                payload=json.loads(body),
            )
            outbox_command_add(task_name=APPLY_PROVIDER_EVENT_TASK, kwargs={"event_pk": row.pk})
            return Recorded(row, created=True)
    except IntegrityError:
        existing = ProviderEvent.objects.get(connector=event.connector, event_id=event.id)
        if existing.body_sha256 != digest:
            raise ProviderEventConflictError(f"event {event.id} was received before with another body") from None
        ProviderEvent.objects.filter(pk=existing.pk).update(deliveries=F("deliveries") + 1)
        return Recorded(existing, created=False)


def provider_event_apply(*, event_pk: int) -> str:
    """Applies a stored event's object to its attempt exactly as a status lookup would; safe to run twice."""
    row = ProviderEvent.objects.filter(pk=event_pk).first()
    if row is None:
        return "no_such_event"
    if row.processed_at is not None:
        return "already_processed"
    event = _reparse(row)
    result = event.result
    outcome = "ignored"
    if event.object_kind in ("payment", "refund") and result is not None and result.reference:
        if PaymentAttempt.objects.filter(pk=result.reference, connector=row.connector).exists():
            outcome = attempt_result_apply(attempt_id=result.reference, result=result, source=f"webhook:{row.type}")
        else:
            outcome = "unknown_reference"
    elif event.dispute is not None:
        outcome = dispute_apply_provider_dispute(dispute=event.dispute)
    ProviderEvent.objects.filter(pk=row.pk, processed_at=None).update(processed_at=timezone.now(), result=outcome[:200])
    logger.info("provider_event_applied", connector=row.connector, event_id=row.event_id, type=row.type, result=outcome)
    return outcome


def provider_events_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Beat: hands out again every stored event still unapplied ``PROVIDER_EVENT_RETRY_SECONDS`` after it arrived.

    Its first apply is an outbox command, published once: a worker killed while running it, or a database restart
    under it, lost it for good, and with it a late success or a chargeback the provider reported only this way.
    Returns how many were handed out."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.PROVIDER_EVENT_RETRY_SECONDS)
    stale = list(
        ProviderEvent.objects.filter(processed_at=None, received_at__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    with transaction.atomic():
        for event_pk in stale:
            outbox_command_add(task_name=APPLY_PROVIDER_EVENT_TASK, kwargs={"event_pk": event_pk})
    if stale:
        logger.warning("provider_events_handed_out_again", count=len(stale))
    return len(stale)


def _reparse(row: ProviderEvent) -> ProviderWebhookEvent:
    """The stored (already verified) body read through the connector again, without the signature check."""
    return registry.connector_get(row.connector).parse_event(row.payload)
