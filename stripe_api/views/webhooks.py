"""``/stripe/v1/events`` and ``/stripe/v1/webhook_endpoints``: Stripe's events, and endpoints that receive them in
Stripe's shape, signed in ``Stripe-Signature``."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from payments import selectors
from payments.enums import WebhookEndpointFormat
from payments.models import WebhookEndpoint
from payments.services.webhook_endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)
from stripe_api import objects
from stripe_api.views.base import StripeInput, StripeView, StripeWriteView, created_filters, metadata_field, scope
from stripe_api.webhooks import PLATFORM_TYPES, platform_event_types, stripe_event, stripe_event_type
from stripe_api.wire import metadata_given


def webhook_endpoint(endpoint: WebhookEndpoint, *, secret: str | None = None) -> dict[str, Any]:
    shaped = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "api_version": objects.API_VERSION if endpoint.format == WebhookEndpointFormat.STRIPE else None,
        "application": None,
        "created": objects.unix(endpoint.created),
        "description": endpoint.description or None,
        "enabled_events": [stripe_event_type(t) for t in endpoint.enabled_events],
        "livemode": endpoint.livemode,
        "metadata": endpoint.metadata,
        "status": endpoint.status,
        "url": endpoint.url,
    }
    if secret is not None:
        shaped["secret"] = secret
    return shaped


class WebhookEndpointCreateInput(StripeInput):
    url = serializers.CharField(max_length=2048)
    enabled_events = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1)
    description = serializers.CharField(max_length=500, allow_blank=True, required=False)
    metadata = metadata_field()
    api_version = serializers.CharField(max_length=40, required=False)
    connect = serializers.BooleanField(required=False)

    def validate_connect(self, value: bool) -> bool:
        if value:
            raise serializers.ValidationError("Connect endpoints are not supported.", code="invalid")
        return value


class WebhookEndpointListCreateApi(StripeWriteView):
    input_serializer = WebhookEndpointCreateInput
    is_list = True

    def validate_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**data, "enabled_events": platform_event_types(data["enabled_events"])}

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        issued = webhook_endpoint_create(
            merchant=merchant,
            livemode=livemode,
            url=data["url"],
            enabled_events=data["enabled_events"],
            description=data.get("description", ""),
            metadata=metadata_given(data),
            webhook_format=WebhookEndpointFormat.STRIPE,
        )
        return Response(webhook_endpoint(issued.endpoint, secret=issued.secret))

    def get(self, request: Request) -> Response:
        merchant, livemode = scope(request)
        endpoints = selectors.webhook_endpoint_list(merchant=merchant, livemode=livemode)
        return self.list_page(request, endpoints, lambda page: [webhook_endpoint(e) for e in page])


class WebhookEndpointUpdateInput(StripeInput):
    url = serializers.CharField(max_length=2048, required=False)
    enabled_events = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1, required=False)
    description = serializers.CharField(max_length=500, allow_blank=True, required=False)
    metadata = metadata_field()
    disabled = serializers.BooleanField(required=False)


class WebhookEndpointDetailApi(StripeWriteView):
    input_serializer = WebhookEndpointUpdateInput

    def _endpoint(self, request: Request, endpoint_id: str) -> WebhookEndpoint:
        merchant, livemode = scope(request)
        return selectors.webhook_endpoint_get(merchant=merchant, livemode=livemode, endpoint_id=endpoint_id)

    def get(self, request: Request, webhook_endpoint_id: str) -> Response:
        return Response(webhook_endpoint(self._endpoint(request, webhook_endpoint_id)))

    def validate_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "enabled_events" in data:
            data = {**data, "enabled_events": platform_event_types(data["enabled_events"])}
        return {**data, "endpoint": self._endpoint(request, kwargs["webhook_endpoint_id"])}

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        endpoint = webhook_endpoint_update(
            endpoint=data["endpoint"],
            url=data.get("url"),
            enabled_events=data.get("enabled_events"),
            description=data.get("description"),
            metadata=data.get("metadata"),
            disabled=data.get("disabled"),
        )
        return Response(webhook_endpoint(endpoint))

    def delete(self, request: Request, webhook_endpoint_id: str) -> Response:
        webhook_endpoint_delete(endpoint=self._endpoint(request, webhook_endpoint_id))
        return Response({"id": webhook_endpoint_id, "object": "webhook_endpoint", "deleted": True})


class EventListApi(StripeView):
    query_parameters = frozenset({"type", "types", "created", "delivery_success"})
    is_list = True

    def get(self, request: Request) -> Response:
        merchant, livemode = scope(request)
        kind = self.query.get("type")
        event_type, wildcard = None, None
        if isinstance(kind, str) and kind.endswith(".*"):
            # Stripe's names, not ours, decide what ``charge.*`` covers (it spans refunds and disputes here).
            wildcard = [ours for stripe_type, ours in PLATFORM_TYPES.items() if stripe_type.startswith(kind[:-1])]
        elif isinstance(kind, str) and kind:
            event_type = PLATFORM_TYPES.get(kind, kind)
        delivery = self.query.get("delivery_success")
        created = created_filters(self.query)
        events = selectors.event_list(
            merchant=merchant,
            livemode=livemode,
            event_type=event_type,
            created_gte=created.get("created_gte"),
            created_lte=created.get("created_lte"),
            delivery_success=None if not isinstance(delivery, str) else delivery.lower() == "true",
        ).select_related("merchant")
        if wildcard is not None:
            events = events.filter(type__in=wildcard)
        types = self.query.get("types")
        if isinstance(types, list):
            events = events.filter(type__in=platform_event_types([str(t) for t in types], param="types"))
        return self.list_page(request, events, lambda page: [stripe_event(e) for e in page])


class EventDetailApi(StripeView):
    def get(self, request: Request, event_id: str) -> Response:
        merchant, livemode = scope(request)
        return Response(stripe_event(selectors.event_get(merchant=merchant, livemode=livemode, event_id=event_id)))
