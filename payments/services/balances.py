"""Releasing captured funds from pending to available when they are due: a ledger transfer, never an update."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import OuterRef
from django.utils import timezone

from ledger import recipes, references
from ledger.money import Money


def funds_release_due(*, limit: int = 500) -> int:
    """Beat: each capture older than ``BALANCE_PENDING_SECONDS`` moves its net from pending to available, once
    (``funds_released`` posts under a deterministic reference, so a second run is a no-op)."""
    cutoff = timezone.now() - timedelta(seconds=settings.BALANCE_PENDING_SECONDS)
    due = (
        references.captures()
        .filter(occurred_at__lte=cutoff)
        .exclude(references.released(OuterRef("source_id")))
        .order_by("occurred_at")
        .prefetch_related("entries")[:limit]
    )
    released = 0
    for capture in due:
        merchant_entries = [entry for entry in capture.entries.all() if entry.merchant_id]
        if not merchant_entries:
            continue  # a 100% fee left the merchant nothing
        entry = merchant_entries[0]
        recipes.funds_released(
            merchant_id=str(entry.merchant_id),
            payment_id=capture.source_id,
            amount=Money(entry.amount, entry.currency),
            occurred_at=timezone.now(),
        )
        released += 1
    return released
