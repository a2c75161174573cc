"""``/v1/webhook_endpoints``: register, list, change, delete endpoints and roll their signing secrets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import CursorListPagination
from core.api.strict import InputSerializer
from payments.api.authentication import request_livemode, request_merchant
from payments.api.idempotency import IdempotentApiView
from payments.enums import EventType
from payments.models import WebhookEndpoint
from payments.selectors import webhook_endpoint_get, webhook_endpoint_list
from payments.services.webhook_endpoints import (
    DEFAULT_ROLL_OVERLAP,
    MAX_ROLL_OVERLAP,
    IssuedEndpoint,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_roll_secret,
    webhook_endpoint_update,
)
from payments.services.webhook_transport import webhook_url_check

_METADATA_MAX_KEYS = 50


class MetadataField(serializers.DictField):
    """The contract's metadata: a string map of at most 50 keys."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.CharField(max_length=500, allow_blank=True), **kwargs)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        value: dict[str, str] = super().to_internal_value(data)
        if len(value) > _METADATA_MAX_KEYS:
            raise serializers.ValidationError(f"At most {_METADATA_MAX_KEYS} keys.", code="invalid")
        if any(len(key) > 40 for key in value):
            raise serializers.ValidationError("Keys are at most 40 characters.", code="invalid")
        return value


_EVENT_CHOICES = ["*", *EventType.values]


class WebhookEndpointOutputSerializer(serializers.Serializer[WebhookEndpoint]):
    id = serializers.CharField()
    object = serializers.SerializerMethodField()
    url = serializers.CharField()
    enabled_events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    metadata = serializers.DictField(child=serializers.CharField())
    status = serializers.CharField(help_text="enabled or disabled")
    disabled_reason = serializers.CharField(help_text="why the platform (or the merchant) disabled it")
    livemode = serializers.BooleanField()
    created = serializers.DateTimeField()

    def get_object(self, obj: WebhookEndpoint) -> str:
        return "webhook_endpoint"


class WebhookEndpointWithSecretOutputSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(help_text="whsec_…, shown only in this response")

    @classmethod
    def issued(cls, issued: IssuedEndpoint) -> dict[str, Any]:
        return {**WebhookEndpointOutputSerializer(issued.endpoint).data, "secret": issued.secret}


class WebhookEndpointWriteApi(IdempotentApiView[Any]):
    """Base of the views whose POSTs create or change endpoints: every one honours ``Idempotency-Key``.

    ``validate_post`` parses and reads only (its 400/404 are not stored under a key), ``perform_post`` makes the
    one service call.
    """


def _url_allowed(url: str) -> None:
    # Refused here (validation) as well as in the service, so a corrected retry under the same key works.
    webhook_url_check(url)


class WebhookEndpointCreateInputSerializer(InputSerializer):
    url = serializers.CharField(max_length=2048, validators=[_url_allowed])
    enabled_events = serializers.ListField(child=serializers.ChoiceField(choices=_EVENT_CHOICES), min_length=1)
    description = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    metadata = MetadataField(required=False, default=dict)


class WebhookEndpointUpdateInputSerializer(InputSerializer):
    url = serializers.CharField(max_length=2048, required=False, validators=[_url_allowed])
    enabled_events = serializers.ListField(
        child=serializers.ChoiceField(choices=_EVENT_CHOICES), min_length=1, required=False
    )
    description = serializers.CharField(max_length=500, allow_blank=True, required=False)
    metadata = MetadataField(required=False, help_text="merged into the current metadata; an empty value removes")
    disabled = serializers.BooleanField(required=False, help_text="false re-enables a disabled endpoint")


class WebhookEndpointRollSecretInputSerializer(InputSerializer):
    expires_in = serializers.IntegerField(
        min_value=0,
        max_value=int(MAX_ROLL_OVERLAP.total_seconds()),
        default=int(DEFAULT_ROLL_OVERLAP.total_seconds()),
        help_text="seconds the current secret keeps signing alongside the new one (default 24 h, 0 = now)",
    )


def _endpoint(request: Request, endpoint_id: str) -> WebhookEndpoint:
    return webhook_endpoint_get(
        merchant=request_merchant(request), livemode=request_livemode(request), endpoint_id=endpoint_id
    )


def _valid(serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class WebhookEndpointCollectionApi(WebhookEndpointWriteApi):
    input_serializer = WebhookEndpointCreateInputSerializer
    # The list is paginated by hand; this tells drf-spectacular the list envelope's shape.
    pagination_class = CursorListPagination

    @extend_schema(operation_id="webhook_endpoints_list", responses=WebhookEndpointOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        endpoints = webhook_endpoint_list(merchant=request_merchant(request), livemode=request_livemode(request))
        paginator = CursorListPagination()
        page = paginator.paginate_queryset(endpoints, request, view=self)
        return paginator.get_paginated_response([WebhookEndpointOutputSerializer(e).data for e in page])

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=WebhookEndpointCreateInputSerializer,
        responses=WebhookEndpointWithSecretOutputSerializer,
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        return _valid(WebhookEndpointCreateInputSerializer(data=request.data))

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        issued = webhook_endpoint_create(merchant=request_merchant(request), livemode=request_livemode(request), **data)
        return Response(WebhookEndpointWithSecretOutputSerializer.issued(issued))


class WebhookEndpointDetailApi(WebhookEndpointWriteApi):
    input_serializer = WebhookEndpointUpdateInputSerializer

    @extend_schema(operation_id="webhook_endpoints_retrieve", responses=WebhookEndpointOutputSerializer)
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(WebhookEndpointOutputSerializer(_endpoint(request, endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        request=WebhookEndpointUpdateInputSerializer,
        responses=WebhookEndpointOutputSerializer,
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> tuple[WebhookEndpoint, dict[str, Any]]:
        endpoint = _endpoint(request, kwargs["endpoint_id"])
        return endpoint, _valid(WebhookEndpointUpdateInputSerializer(data=request.data))

    def perform_post(self, request: Request, data: tuple[WebhookEndpoint, dict[str, Any]], **kwargs: Any) -> Response:
        endpoint, changes = data
        return Response(WebhookEndpointOutputSerializer(webhook_endpoint_update(endpoint=endpoint, **changes)).data)

    @extend_schema(operation_id="webhook_endpoints_delete", responses={200: dict})
    def delete(self, request: Request, endpoint_id: str) -> Response:
        webhook_endpoint_delete(endpoint=_endpoint(request, endpoint_id))
        return Response({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})


class WebhookEndpointRollSecretApi(WebhookEndpointWriteApi):
    input_serializer = WebhookEndpointRollSecretInputSerializer

    @extend_schema(
        operation_id="webhook_endpoints_roll_secret",
        request=WebhookEndpointRollSecretInputSerializer,
        responses=WebhookEndpointWithSecretOutputSerializer,
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> tuple[WebhookEndpoint, timedelta]:
        endpoint = _endpoint(request, kwargs["endpoint_id"])
        data = _valid(WebhookEndpointRollSecretInputSerializer(data=request.data))
        return endpoint, timedelta(seconds=data["expires_in"])

    def perform_post(self, request: Request, data: tuple[WebhookEndpoint, timedelta], **kwargs: Any) -> Response:
        endpoint, expires_in = data
        issued = webhook_endpoint_roll_secret(endpoint=endpoint, expires_in=expires_in)
        return Response(WebhookEndpointWithSecretOutputSerializer.issued(issued))
