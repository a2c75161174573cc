"""Reads of events and webhook endpoints, always scoped to one merchant and one mode (test or live).

A module of its own only while the payments selectors (payments/selectors.py) are being written on another
branch; it folds into that module once both have landed.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from core.errors import LedgerlineError
from payments.enums import WebhookDeliveryStatus
from payments.models import Event, Merchant, WebhookDelivery, WebhookEndpoint


class ResourceMissingError(LedgerlineError):
    """No such object."""

    status_code = 404
    code = "resource_missing"


def event_list(
    *,
    merchant: Merchant,
    livemode: bool,
    event_type: str | None = None,
    created_gte: datetime | None = None,
    created_lte: datetime | None = None,
    delivery_success: bool | None = None,
) -> QuerySet[Event]:
    """Events of a merchant and mode, with ``pending_webhooks`` annotated. ``event_type`` may end in ``.*``
    (``payment.*``); ``delivery_success=False`` keeps the events some endpoint has not acknowledged yet (still
    retrying or given up), ``True`` those every endpoint acknowledged."""
    events = Event.objects.filter(merchant=merchant, livemode=livemode)
    if event_type:
        if event_type.endswith(".*"):
            events = events.filter(type__startswith=event_type[:-1])
        else:
            events = events.filter(type=event_type)
    if created_gte is not None:
        events = events.filter(created__gte=created_gte)
    if created_lte is not None:
        events = events.filter(created__lte=created_lte)
    if delivery_success is not None:
        undelivered = WebhookDelivery.objects.filter(event=OuterRef("pk")).exclude(
            status=WebhookDeliveryStatus.SUCCEEDED
        )
        events = events.filter(~Exists(undelivered) if delivery_success else Exists(undelivered))
    return events.annotate(
        pending_webhooks=Count("deliveries", filter=Q(deliveries__status=WebhookDeliveryStatus.PENDING))
    )


def event_get(*, merchant: Merchant, livemode: bool, event_id: str) -> Event:
    event = event_list(merchant=merchant, livemode=livemode).filter(pk=event_id).first()
    if event is None:
        raise ResourceMissingError(f"No such event: '{event_id}'", param="id")
    return event


def webhook_endpoint_list(*, merchant: Merchant, livemode: bool) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(merchant=merchant, livemode=livemode)


def webhook_endpoint_get(*, merchant: Merchant, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    endpoint = webhook_endpoint_list(merchant=merchant, livemode=livemode).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise ResourceMissingError(f"No such webhook endpoint: '{endpoint_id}'", param="id")
    return endpoint
