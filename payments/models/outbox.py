from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from payments.enums import OutboxKind
from payments.models.merchants import Merchant


class OutboxMessage(models.Model):
    """A committed promise of an external effect, written in the same transaction as the state change causing it.

    The relay claims unpublished rows with ``FOR UPDATE SKIP LOCKED``; a crashed relay's rows are claimed again,
    so consumers dedupe by ``id``. Events carry the object snapshot needed to rebuild the merchant-facing event;
    commands carry a Celery task name and its keyword arguments.
    """

    id = models.BigAutoField(primary_key=True)
    merchant = models.ForeignKey(Merchant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    livemode = models.BooleanField(default=False)
    kind = models.CharField(max_length=10, choices=OutboxKind.choices)
    # Event type (``payment.succeeded``) for events; the Celery task name for commands.
    topic = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=40, blank=True)
    aggregate_id = models.CharField(max_length=40, blank=True)
    payload = models.JSONField(default=dict)
    queue = models.CharField(max_length=60, blank=True, help_text="Celery queue for commands (bulkheads per PSP)")
    created = models.DateTimeField(db_default=Now(), editable=False)
    available_at = models.DateTimeField(db_default=Now(), help_text="not to be published before this instant")
    published_at = models.DateTimeField(null=True, blank=True)
    # The W3C trace context (traceparent) of the span that wrote the row: the relay publishes under it, so the
    # worker's task continues the request's trace (core/tracing.py). Empty when tracing is off.
    trace_context = models.JSONField(default=dict, blank=True)
    publish_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The relay's only query: the oldest due, unpublished rows. Published rows drop out of the index.
            models.Index(fields=["available_at", "id"], name="outbox_unpublished", condition=Q(published_at=None)),
            models.Index(fields=["aggregate_type", "aggregate_id"], name="outbox_aggregate"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=OutboxKind.values), name="outbox_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.topic}#{self.id}"
