"""``GET /v1/events`` and ``GET /v1/events/{id}``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CursorListPagination
from payments.api.authentication import request_livemode, request_merchant
from payments.models import Event
from payments.selectors import event_get, event_list
from payments.services.events import event_payload


@extend_schema_field(OpenApiTypes.STR)
class TimestampField(serializers.Field[datetime, Any, str, Any]):
    """A filter bound: unix seconds (``1767225600``) or ISO 8601 with a timezone (``2026-01-01T00:00:00Z``)."""

    default_error_messages = {"invalid": "Use unix seconds or an ISO 8601 timestamp with a timezone."}

    def to_internal_value(self, data: Any) -> datetime:
        text = str(data).strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text), tz=UTC)
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            self.fail("invalid")
        return parsed

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


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


class EventListApi(APIView):
    # The list is paginated by hand; this tells drf-spectacular the list envelope's shape.
    pagination_class = CursorListPagination

    @extend_schema(
        operation_id="events_list",
        parameters=[
            EventFilterSerializer,
            OpenApiParameter("created[gte]", str, description="unix seconds or ISO 8601"),
            OpenApiParameter("created[lte]", str, description="unix seconds or ISO 8601"),
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


class EventRetrieveApi(APIView):
    @extend_schema(operation_id="events_retrieve", responses=EventOutputSerializer)
    def get(self, request: Request, event_id: str) -> Response:
        event = event_get(merchant=request_merchant(request), livemode=request_livemode(request), event_id=event_id)
        return Response(EventOutputSerializer(event).data)
