"""``GET /v1/events`` and ``GET /v1/events/{id}``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.filters import CREATED_PARAMETERS, TimestampField
from core.api.pagination import CursorListPagination
from core.api.strict import ApiView
from payments.api.authentication import request_livemode, request_merchant
from payments.models import Event
from payments.selectors import event_get, event_list
from payments.services.events import event_payload


class EventFilterSerializer(serializers.Serializer[Any]):
    type = serializers.RegexField(r"^[a-z_]+(\.[a-z_]+)*(\.\*)?$", max_length=100, required=False)
    delivery_success = serializers.BooleanField(required=False, allow_null=True, default=None)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        # The contract's bracketed names are not Python identifiers, hence not declared above.
        fields["created[gte]"] = TimestampField(required=False)
        fields["created[lte]"] = TimestampField(required=False)
        return fields


class EventOutputSerializer(serializers.Serializer[Event]):
    id = serializers.CharField()
    object = serializers.CharField(default="event")
    type = serializers.CharField()
    created = serializers.DateTimeField()
    livemode = serializers.BooleanField()
    pending_webhooks = serializers.IntegerField(help_text="deliveries to endpoints that have not succeeded yet")

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        # Declared here because ``data`` as a class attribute would hide Serializer.data.
        fields["data"] = serializers.DictField(help_text='{"object": the object as it was when the event happened}')
        return fields

    def to_representation(self, instance: Event) -> dict[str, Any]:
        # One rendering for the API and the webhook bodies, so the two can never drift apart.
        return {**event_payload(instance), "pending_webhooks": getattr(instance, "pending_webhooks", 0)}


class EventListApi(ApiView):
    query_parameters = frozenset({"type", "delivery_success", "created[gte]", "created[lte]"})
    # The list is paginated by hand; this tells drf-spectacular the list envelope's shape.
    pagination_class = CursorListPagination

    @extend_schema(
        operation_id="events_list",
        parameters=[
            EventFilterSerializer,
            *CREATED_PARAMETERS,
        ],
        responses=EventOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        # A plain dict: in a QueryDict DRF would read `?type=` as absent instead of rejecting it.
        filters = EventFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        events = event_list(
            merchant=request_merchant(request),
            livemode=request_livemode(request),
            event_type=params.get("type"),
            created_gte=params.get("created[gte]"),
            created_lte=params.get("created[lte]"),
            delivery_success=params.get("delivery_success"),
        )
        paginator = CursorListPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response([EventOutputSerializer(event).data for event in page])


class EventRetrieveApi(ApiView):
    @extend_schema(operation_id="events_retrieve", responses=EventOutputSerializer)
    def get(self, request: Request, event_id: str) -> Response:
        event = event_get(merchant=request_merchant(request), livemode=request_livemode(request), event_id=event_id)
        return Response(EventOutputSerializer(event).data)
