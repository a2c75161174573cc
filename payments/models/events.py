"""Merchant-visible events and their signed webhook deliveries.

An ``Event`` is what an outbox event row becomes once the relay publishes it; a ``WebhookDelivery`` is that event
on its way to one endpoint, and every HTTP try of it is a ``WebhookDeliveryAttempt``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from core.ids import new_id
from payments.enums import WebhookDeliveryStatus, WebhookEndpointFormat, WebhookEndpointStatus
from payments.models.merchants import Merchant


def _event_id() -> str:
    return new_id("evt")


def _endpoint_id() -> str:
    return new_id("we")


def _delivery_id() -> str:
    return new_id("whd")


class Event(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_event_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    livemode = models.BooleanField(default=False)
    type = models.CharField(max_length=100)
    # {"object": <snapshot of the object at the time of the state change>}
    data = models.JSONField(default=dict)
    # The instant of the state change (the outbox row's), not of publication.
    created = models.DateTimeField(db_default=Now())
    # The outbox row this event was published from: a re-claimed row (crashed relay) never makes a second event.
    # Not a foreign key, so pruning published outbox rows leaves events alone.
    outbox_id = models.BigIntegerField(unique=True, null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            # GET /v1/events: newest first per merchant and mode, optionally by type.
            models.Index(fields=["merchant", "livemode", "-id"], name="event_merchant_newest"),
            models.Index(fields=["merchant", "livemode", "type", "-id"], name="event_merchant_type"),
            models.Index(fields=["created"], name="event_created"),  # retention
        ]

    def __str__(self) -> str:
        return f"{self.type} ({self.id})"


class WebhookEndpoint(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_endpoint_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    livemode = models.BooleanField(default=False)
    url = models.URLField(max_length=2048)
    # Event types, or ["*"] for all of them.
    enabled_events = models.JSONField(default=list)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=WebhookEndpointStatus.choices, default=WebhookEndpointStatus.ENABLED
    )
    disabled_reason = models.CharField(max_length=300, blank=True)
    format = models.CharField(
        max_length=12,
        choices=WebhookEndpointFormat.choices,
        default=WebhookEndpointFormat.LEDGERLINE,
        help_text="the shape and signature header of its deliveries",
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Failure streak since the last successful delivery: what decides that an endpoint is dead.
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        indexes = [models.Index(fields=["merchant", "livemode", "status"], name="endpoint_merchant_status")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=WebhookEndpointStatus.values), name="endpoint_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.url} ({self.id})"

    def subscribes_to(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events


class WebhookSecret(models.Model):
    """A signing secret of an endpoint. Rolling adds one and gives the old one an expiry; both sign until then.

    Stored in plain text: signing needs the secret itself, not a hash. The admin never shows it.
    """

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="secrets")
    secret = models.CharField(max_length=100)
    created = models.DateTimeField(db_default=Now(), editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "expires_at"], name="webhook_secret_active")]

    def __str__(self) -> str:
        return f"secret #{self.pk} of {self.endpoint_id}"


class WebhookDelivery(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_delivery_id, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=10, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    # When the dispatcher (re)enqueues it if nothing else did: the retry schedule, or a lease after enqueueing.
    next_attempt_at = models.DateTimeField(db_default=Now())
    # Set while a worker is sending it, so a duplicate task neither sends twice nor exceeds the endpoint's cap.
    in_flight_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_once_per_event_endpoint"),
            models.CheckConstraint(condition=Q(status__in=WebhookDeliveryStatus.values), name="delivery_status_valid"),
        ]
        indexes = [
            # The dispatcher's only query: pending deliveries that are due.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_pending_due",
                condition=Q(status=WebhookDeliveryStatus.PENDING),
            ),
            # The per-endpoint in-flight cap.
            models.Index(
                fields=["endpoint", "in_flight_until"],
                name="delivery_in_flight",
                condition=Q(in_flight_until__isnull=False),
            ),
            # GET /v1/events?delivery_success=false
            models.Index(fields=["event", "status"], name="delivery_event_status"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class WebhookDeliveryAttempt(models.Model):
    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField()
    url = models.URLField(max_length=2048)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-attempted_at", "-id"]
        indexes = [models.Index(fields=["delivery", "attempted_at"], name="attempt_delivery_time")]

    def __str__(self) -> str:
        return f"attempt #{self.pk} of {self.delivery_id}: {self.status_code or self.error[:40]}"
