"""``/v1/payments``: one view per operation, each a nested input serializer, one service call and the output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.filters import CREATED_PARAMETERS, TimestampField
from core.api.pagination import CursorListPagination
from core.api.strict import ApiView, InputSerializer
from payments import selectors
from payments.api.authentication import request_api_key, request_merchant
from payments.api.idempotency import IdempotentApiView
from payments.cards import card_validate
from payments.enums import CancellationReason, CaptureMethod, PaymentMethodType, PaymentStatus, UpiFlow
from payments.representations import PaymentSerializer, payment_representation
from payments.services import admission
from payments.services.card_tokens import card_tokens_create
from payments.services.payments import (
    CardPaymentMethod,
    PaymentMethodInput,
    UpiPaymentMethod,
    payment_cancel,
    payment_capture,
    payment_confirm,
    payment_create,
    payment_create_validate,
)
from payments.upi import UPI_EXPIRES_IN_DEFAULT, UPI_EXPIRES_IN_MAX, UPI_EXPIRES_IN_MIN, vpa_validate

METADATA_MAX_KEYS = 50


class _CardInput(InputSerializer):
    # Messages here never echo the value: it is a card number.
    number = serializers.CharField(max_length=32, write_only=True, trim_whitespace=True)
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()
    cvc = serializers.CharField(max_length=4, write_only=True)


class _UpiInput(InputSerializer):
    flow = serializers.ChoiceField(choices=UpiFlow.choices, default=UpiFlow.INTENT)
    vpa = serializers.CharField(max_length=255, required=False)
    expires_in = serializers.IntegerField(
        default=UPI_EXPIRES_IN_DEFAULT,
        min_value=UPI_EXPIRES_IN_MIN,
        max_value=UPI_EXPIRES_IN_MAX,
        help_text="seconds the payer has to approve (5 to 15 minutes)",
    )


class _PaymentMethodInput(InputSerializer):
    type = serializers.ChoiceField(choices=PaymentMethodType.choices)
    card = _CardInput(required=False)
    upi = _UpiInput(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == PaymentMethodType.CARD and "card" not in attrs:
            raise serializers.ValidationError({"card": "Card details are required."}, code="required")
        return attrs


def _metadata_validate(value: dict[str, str]) -> None:
    if len(value) > METADATA_MAX_KEYS:
        raise serializers.ValidationError(f"At most {METADATA_MAX_KEYS} keys.", code="invalid")
    if any(not key or len(key) > 40 for key in value):
        raise serializers.ValidationError("Keys are 1 to 40 characters.", code="invalid")


class PaymentCreateInputSerializer(InputSerializer):
    amount = serializers.IntegerField(help_text="minor units of currency (cents, paise, yen)")
    currency = serializers.CharField(min_length=3, max_length=3, help_text="lower-case ISO 4217")
    payment_method = _PaymentMethodInput()
    capture_method = serializers.ChoiceField(choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC)
    confirm = serializers.BooleanField(default=False)
    description = serializers.CharField(max_length=1000, allow_blank=True, default="")
    metadata = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), default=dict, validators=[_metadata_validate]
    )
    # No default: "" is not an email, and the schema must not advertise a default its own format refuses.
    customer_email = serializers.EmailField(allow_blank=True, required=False)


@dataclass(frozen=True)
class PaymentCreateInput:
    amount: int
    currency: str
    payment_method: PaymentMethodInput
    capture_method: str
    confirm: bool
    description: str
    metadata: dict[str, str]
    customer_email: str


def _payment_method(data: dict[str, Any]) -> PaymentMethodInput:
    if data["type"] == PaymentMethodType.CARD:
        card = data["card"]
        details = card_validate(
            number=card["number"],
            exp_month=card["exp_month"],
            exp_year=card["exp_year"],
            cvc=card["cvc"],
            today=timezone.now().date(),
        )
        tokens = card_tokens_create(
            number=card["number"], exp_month=card["exp_month"], exp_year=card["exp_year"], cvc=card["cvc"]
        )
        return CardPaymentMethod(card=details, tokens=tokens)
    upi = data.get("upi") or {}
    vpa = vpa_validate(upi["vpa"]) if upi.get("vpa") else ""
    return UpiPaymentMethod(
        flow=upi.get("flow", UpiFlow.INTENT), vpa=vpa, expires_in=upi.get("expires_in", UPI_EXPIRES_IN_DEFAULT)
    )


def _validated(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _payment_response(payment: Any) -> Response:
    return Response(payment_representation(payment))


class PaymentListFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=PaymentStatus.choices, required=False)
    created_gte = TimestampField(required=False)
    created_lte = TimestampField(required=False)


_LIST_PARAMETERS = [
    OpenApiParameter("status", str, enum=PaymentStatus.values, required=False),
    *CREATED_PARAMETERS,
]


class PaymentListCreateApi(IdempotentApiView[PaymentCreateInput]):
    """``POST /v1/payments`` creates (and, with ``confirm``, confirms); ``GET`` lists, newest first."""

    input_serializer = PaymentCreateInputSerializer
    query_parameters = frozenset({"status", "created[gte]", "created[lte]"})

    @extend_schema(
        operation_id="payment_create",
        request=PaymentCreateInputSerializer,
        responses={200: PaymentSerializer},
        summary="Create a payment",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> PaymentCreateInput:
        data = _validated(PaymentCreateInputSerializer, request)
        method = _payment_method(data["payment_method"])
        currency = payment_create_validate(
            merchant=request_merchant(request),
            amount=data["amount"],
            currency=data["currency"],
            payment_method=method,
            capture_method=data["capture_method"],
        )
        if data["confirm"]:
            admission.executor_admission_check(method=data["payment_method"]["type"])
        return PaymentCreateInput(
            amount=data["amount"],
            currency=currency,
            payment_method=method,
            capture_method=data["capture_method"],
            confirm=data["confirm"],
            description=data["description"],
            metadata=data["metadata"],
            customer_email=data.get("customer_email", ""),
        )

    def perform_post(self, request: Request, data: PaymentCreateInput, **kwargs: Any) -> Response:
        payment = payment_create(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            amount=data.amount,
            currency=data.currency,
            payment_method=data.payment_method,
            capture_method=data.capture_method,
            confirm=data.confirm,
            description=data.description,
            metadata=data.metadata,
            customer_email=data.customer_email,
        )
        return _payment_response(payment)

    @extend_schema(
        operation_id="payment_list",
        parameters=_LIST_PARAMETERS,
        responses={200: PaymentSerializer(many=True)},
        summary="List payments",
    )
    def get(self, request: Request) -> Response:
        filters = PaymentListFilterSerializer(
            data={
                key: value
                for key, value in {
                    "status": request.query_params.get("status"),
                    "created_gte": request.query_params.get("created[gte]"),
                    "created_lte": request.query_params.get("created[lte]"),
                }.items()
                if value is not None
            }
        )
        if not filters.is_valid():
            # Report the parameter under the name the client sent.
            errors = {key.replace("_gte", "[gte]").replace("_lte", "[lte]"): v for key, v in filters.errors.items()}
            raise serializers.ValidationError(errors)
        payments = selectors.payment_list(
            merchant=request_merchant(request), livemode=request_api_key(request).livemode, **filters.validated_data
        )
        paginator = CursorListPagination()
        page = paginator.paginate_queryset(payments, request, view=self)
        return paginator.get_paginated_response(PaymentSerializer(page, many=True).data)

    # The list is paginated by hand above; this tells drf-spectacular its shape.
    pagination_class = CursorListPagination


class PaymentRetrieveApi(ApiView):
    @extend_schema(operation_id="payment_retrieve", responses={200: PaymentSerializer}, summary="Retrieve a payment")
    def get(self, request: Request, payment_id: str) -> Response:
        payment = selectors.payment_get(
            merchant=request_merchant(request), livemode=request_api_key(request).livemode, payment_id=payment_id
        )
        return _payment_response(payment)


class PaymentConfirmApi(IdempotentApiView[None]):
    input_serializer = None

    @extend_schema(operation_id="payment_confirm", request=None, responses={200: PaymentSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Hands the payment to the provider; answers ``processing`` at once (the outcome comes by webhook)."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> None:
        admission.executor_admission_check()

    def perform_post(self, request: Request, data: None, **kwargs: Any) -> Response:
        payment = payment_confirm(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            payment_id=kwargs["payment_id"],
        )
        return _payment_response(payment)


class PaymentCaptureInputSerializer(InputSerializer):
    amount_to_capture = serializers.IntegerField(
        required=False, min_value=1, help_text="defaults to the whole authorized amount; a partial capture is final"
    )


class PaymentCaptureApi(IdempotentApiView[dict[str, Any]]):
    input_serializer = PaymentCaptureInputSerializer

    @extend_schema(
        operation_id="payment_capture", request=PaymentCaptureInputSerializer, responses={200: PaymentSerializer}
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Captures an authorized payment (``requires_capture``), in full or in part."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        return _validated(PaymentCaptureInputSerializer, request)

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        payment = payment_capture(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            payment_id=kwargs["payment_id"],
            amount_to_capture=data.get("amount_to_capture"),
        )
        return _payment_response(payment)


class PaymentCancelInputSerializer(InputSerializer):
    cancellation_reason = serializers.ChoiceField(
        choices=[c for c in CancellationReason.choices if c[0] != CancellationReason.AUTHORIZATION_EXPIRED],
        required=False,
    )


class PaymentCancelApi(IdempotentApiView[dict[str, Any]]):
    input_serializer = PaymentCancelInputSerializer

    @extend_schema(
        operation_id="payment_cancel", request=PaymentCancelInputSerializer, responses={200: PaymentSerializer}
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Cancels a payment that is not captured yet (not while ``processing``, never once ``succeeded``)."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        return _validated(PaymentCancelInputSerializer, request)

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        payment = payment_cancel(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            payment_id=kwargs["payment_id"],
            reason=data.get("cancellation_reason", ""),
        )
        return _payment_response(payment)
