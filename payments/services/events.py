"""Merchant-visible events: created from published outbox rows, pruned after the retention period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.db import delete_in_chunks
from payments.models import Event, OutboxMessage

_PRUNE_CHUNK = 1000


def iso_timestamp(value: datetime) -> str:
    """The API's timestamp format (DRF's): ISO 8601 in UTC with a ``Z``."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def event_payload(event: Event) -> dict[str, Any]:
    """The event as merchants see it, in the API and in webhook bodies alike."""
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "created": iso_timestamp(event.created),
        "livemode": event.livemode,
        "data": event.data,
    }


def events_create_from_outbox(*, messages: Sequence[OutboxMessage]) -> list[Event]:
    """Turns claimed outbox event rows into events, exactly once per row; returns the events it created.

    The caller holds the rows' locks in its transaction. A row whose event already exists (its ``published_at``
    was reset by hand, say) gets no second one, and no second round of webhooks; the unique ``outbox_id``
    enforces it even for a caller that forgot the lock.
    """
    if not messages:
        return []
    existing = set(Event.objects.filter(outbox_id__in=[m.id for m in messages]).values_list("outbox_id", flat=True))
    new = [
        Event(
            merchant_id=m.merchant_id,
            livemode=m.livemode,
            type=m.topic,
            data={"object": m.payload},
            created=m.created,
            outbox_id=m.id,
        )
        for m in messages
        if m.id not in existing and m.merchant_id is not None
    ]
    return Event.objects.bulk_create(new)


def events_prune(*, now: datetime | None = None, retention_days: int | None = None) -> int:
    """Deletes events (with their deliveries and attempts) older than the retention period, in small chunks so no
    single transaction grows large. Returns how many events went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=retention_days if retention_days is not None else settings.EVENTS_RETENTION_DAYS)
    return delete_in_chunks(Event.objects.filter(created__lt=cutoff), chunk=_PRUNE_CHUNK)
