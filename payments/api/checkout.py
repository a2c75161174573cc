"""``/v1/checkout/sessions``: a hosted payment page for one amount (``url``); thin views over services and selectors."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import CursorListPagination
from core.api.strict import ApiView, InputSerializer
from payments import selectors
from payments.api.authentication import request_api_key, request_merchant
from payments.api.common import list_response, metadata_field
from payments.api.idempotency import IdempotentApiView
from payments.enums import CheckoutSessionStatus
from payments.representations import CheckoutSessionSerializer, checkout_session_representation
from payments.services.checkout import (
    CHECKOUT_EXPIRES_IN_DEFAULT,
    CHECKOUT_EXPIRES_IN_MAX,
    CHECKOUT_EXPIRES_IN_MIN,
    CHECKOUT_METHODS,
    checkout_session_create,
    checkout_session_create_validate,
    checkout_session_expire,
)


class _WebUrlField(serializers.URLField):
    """Where the payer is sent back: an http(s) address only (never javascript:, data: or ftp:)."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not value.lower().startswith(("https://", "http://")):
            raise serializers.ValidationError("Must be an http or https URL.", code="invalid")
        return value


class CheckoutSessionCreateInputSerializer(InputSerializer):
    amount = serializers.IntegerField(help_text="minor units of currency (cents, paise, yen)")
    currency = serializers.CharField(min_length=3, max_length=3, help_text="lower-case ISO 4217")
    success_url = _WebUrlField(max_length=2000, help_text="the payer is sent here (?session_id=cs_…) once paid")
    cancel_url = _WebUrlField(max_length=2000, help_text="the payer is sent here when they give up")
    payment_methods = serializers.ListField(
        child=serializers.ChoiceField(choices=list(CHECKOUT_METHODS)),
        min_length=1,
        max_length=len(CHECKOUT_METHODS),
        default=lambda: ["card"],
        help_text='what the page offers: "card", "upi" (upi: inr only)',
    )
    customer = serializers.CharField(max_length=64, required=False)
    customer_email = serializers.EmailField(allow_blank=True, required=False)
    metadata = metadata_field()
    expires_in = serializers.IntegerField(
        default=CHECKOUT_EXPIRES_IN_DEFAULT,
        min_value=CHECKOUT_EXPIRES_IN_MIN,
        max_value=CHECKOUT_EXPIRES_IN_MAX,
        help_text="seconds the page stays open (30 minutes to 24 hours)",
    )


def _scope(request: Request) -> dict[str, Any]:
    return {"merchant": request_merchant(request), "livemode": request_api_key(request).livemode}


def _validated(request: Request) -> dict[str, Any]:
    serializer = CheckoutSessionCreateInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class CheckoutSessionListCreateApi(IdempotentApiView[dict[str, Any]]):
    pagination_class = CursorListPagination
    input_serializer = CheckoutSessionCreateInputSerializer
    query_parameters = frozenset({"status"})

    @extend_schema(
        operation_id="checkout_session_create",
        request=CheckoutSessionCreateInputSerializer,
        responses={200: CheckoutSessionSerializer},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Creates a hosted payment page; send the payer to its ``url``."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        data = _validated(request)
        data["currency"], data["payment_methods"] = checkout_session_create_validate(
            amount=data["amount"],
            currency=data["currency"],
            payment_methods=data["payment_methods"],
            expires_in=data["expires_in"],
        )
        if data.get("customer"):
            data["customer"] = selectors.customer_get(**_scope(request), customer_id=data["customer"], param="customer")
        return data

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        session = checkout_session_create(**_scope(request), **data)
        return Response(checkout_session_representation(session))

    @extend_schema(
        operation_id="checkout_session_list",
        parameters=[OpenApiParameter("status", str, enum=CheckoutSessionStatus.values, required=False)],
        responses={200: CheckoutSessionSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in CheckoutSessionStatus.values:
            raise serializers.ValidationError(
                {"status": [f"Must be one of {', '.join(CheckoutSessionStatus.values)}."]}
            )
        sessions = selectors.checkout_session_list(**_scope(request), status=status)
        return list_response(self, request, sessions, lambda page: CheckoutSessionSerializer(page, many=True).data)


class CheckoutSessionRetrieveApi(ApiView):
    @extend_schema(operation_id="checkout_session_retrieve", responses={200: CheckoutSessionSerializer})
    def get(self, request: Request, session_id: str) -> Response:
        session = selectors.checkout_session_get(**_scope(request), session_id=session_id)
        return Response(checkout_session_representation(session))


class CheckoutSessionExpireApi(IdempotentApiView[None]):
    input_serializer = None

    @extend_schema(operation_id="checkout_session_expire", request=None, responses={200: CheckoutSessionSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Closes an open session at once: its page no longer takes payments (not while one is in progress)."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> None:
        return None

    def perform_post(self, request: Request, data: None, **kwargs: Any) -> Response:
        session = checkout_session_expire(**_scope(request), session_id=kwargs["session_id"])
        return Response(checkout_session_representation(session))
