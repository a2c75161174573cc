"""The outbox relay: turns committed outbox rows into events (with their webhook deliveries) and Celery tasks.

One batch is one transaction: claim due rows with ``FOR UPDATE SKIP LOCKED`` (concurrent relays take disjoint
rows), publish them, mark them published, commit. A relay that dies mid-batch rolls back and its rows are simply
claimed again; events stay exactly-once (unique ``Event.outbox_id``), commands are at-least-once and carry a
stable task id (``outbox-<row id>``) for consumers to dedupe on.

Commands are sent to the broker while the claim is held: the one network call inside a transaction here, and on
purpose — it is what stops a second relay from sending the same row while this one is still deciding. If the send
succeeds but the commit fails, the command goes out again, which at-least-once already allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from celery import current_app
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from core.db import delete_in_chunks, skip_locked
from core.tracing import trace_context_attached, trace_context_current
from payments.enums import OutboxKind
from payments.models import OutboxMessage
from payments.services.events import events_create_from_outbox
from payments.services.webhook_deliveries import webhook_deliveries_create, webhook_deliveries_enqueue

logger = structlog.get_logger(__name__)

DEFAULT_BATCH_SIZE = 100
_MAX_BACKOFF_SECONDS = 300
_PUBLISHED_RETENTION = timedelta(days=7)
_PRUNE_CHUNK = 5000


@dataclass(frozen=True)
class RelayResult:
    claimed: int = 0
    events: int = 0
    commands: int = 0
    deliveries: int = 0
    deferred: int = 0


def _command_send(message: OutboxMessage) -> None:
    # Published inside the trace of the request that wrote the row: the task's headers carry its traceparent (set
    # here, or by the Celery instrumentation's publish span when this process traces), and the worker continues it.
    with trace_context_attached(message.trace_context):
        current_app.send_task(
            message.topic,
            kwargs=message.payload,
            queue=message.queue or None,
            task_id=f"outbox-{message.id}",
            headers=trace_context_current(),
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        )


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, _MAX_BACKOFF_SECONDS))


def outbox_relay_batch(*, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime | None = None) -> RelayResult:
    """Publishes up to ``batch_size`` due rows, oldest first, in one transaction.

    A command the broker refuses is not lost: its row stays unpublished with ``publish_attempts`` and
    ``last_error`` updated and ``available_at`` pushed back exponentially (up to 5 minutes). The batch's other
    commands wait with it rather than each paying a broker timeout; its events are published regardless.
    """
    with transaction.atomic():
        due = OutboxMessage.objects.filter(published_at=None, available_at__lte=now or Now())
        rows = list(skip_locked(due.order_by("available_at", "id"))[:batch_size])
        if not rows:
            return RelayResult()
        published_at = now or timezone.now()
        events = [row for row in rows if row.kind == OutboxKind.EVENT and row.merchant_id is not None]
        commands = [row for row in rows if row.kind == OutboxKind.COMMAND]
        orphans = [row for row in rows if row.kind == OutboxKind.EVENT and row.merchant_id is None]
        if orphans:
            # A merchant-visible event without a merchant is a bug upstream; park it loudly rather than block.
            logger.error("outbox_event_without_merchant", outbox_ids=[row.id for row in orphans])
            OutboxMessage.objects.filter(pk__in=[row.pk for row in orphans]).update(
                publish_attempts=F("publish_attempts") + 1,
                last_error="an event needs a merchant",
                available_at=published_at + timedelta(seconds=_MAX_BACKOFF_SECONDS),
            )

        new_events = events_create_from_outbox(messages=events)
        deliveries = webhook_deliveries_create(events=new_events, now=published_at)
        published = [row.id for row in events]

        deferred: list[OutboxMessage] = []
        for index, row in enumerate(commands):
            try:
                _command_send(row)
            except Exception as exc:  # kombu's transport errors have no common base worth naming
                deferred = commands[index:]
                error = f"{type(exc).__name__}: {exc}"[:1000]
                logger.warning("outbox_command_send_failed", outbox_id=row.id, topic=row.topic, error=error)
                OutboxMessage.objects.filter(pk=row.pk).update(
                    publish_attempts=F("publish_attempts") + 1,
                    last_error=error,
                    available_at=published_at + _backoff(row.publish_attempts + 1),
                )
                OutboxMessage.objects.filter(pk__in=[r.pk for r in deferred[1:]]).update(
                    last_error="not sent: the broker refused an earlier command of the same batch",
                    available_at=published_at + _backoff(row.publish_attempts + 1),
                )
                break
            published.append(row.id)

        OutboxMessage.objects.filter(pk__in=published).update(
            published_at=published_at, publish_attempts=F("publish_attempts") + 1
        )
        webhook_deliveries_enqueue(delivery_ids=[d.id for d in deliveries])
    result = RelayResult(
        claimed=len(rows),
        events=len(events),
        commands=len(commands) - len(deferred),
        deliveries=len(deliveries),
        deferred=len(deferred) + len(orphans),
    )
    logger.debug("outbox_relay_batch", **result.__dict__)
    return result


def outbox_relay_drain(*, batch_size: int = DEFAULT_BATCH_SIZE, max_batches: int = 1000) -> int:
    """Runs batches until none is full (or ``max_batches``); returns how many rows were published."""
    total = 0
    for _ in range(max_batches):
        result = outbox_relay_batch(batch_size=batch_size)
        total += result.claimed - result.deferred
        if result.claimed < batch_size:
            break
    return total


def outbox_prune(*, now: datetime | None = None, older_than: timedelta = _PUBLISHED_RETENTION) -> int:
    """Deletes rows published more than ``older_than`` ago. Unpublished rows are never pruned, whatever their
    age; events do not reference their row, so they stay."""
    cutoff = (now or timezone.now()) - older_than
    return delete_in_chunks(OutboxMessage.objects.filter(published_at__lt=cutoff), chunk=_PRUNE_CHUNK)
