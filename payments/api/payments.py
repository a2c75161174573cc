"""``/v1/payments``: one view per operation, each a nested input serializer, one service call and the output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.filters import CREATED_PARAMETERS, TimestampField
from core.api.pagination import CursorListPagination
from core.api.strict import BIGINT_MAX, ApiView, InputSerializer
from payments import selectors
from payments.api.authentication import request_api_key, request_merchant
from payments.api.idempotency import IdempotentApiView
from payments.cards import card_validate
from payments.connectors.base import CardSummary, RawCard
from payments.enums import (
    CancellationReason,
    CaptureMethod,
    PaymentMethodType,
    PaymentStatus,
    SetupFutureUsage,
    UpiFlow,
)
from payments.models import Customer
from payments.representations import PaymentSerializer, payment_representation
from payments.services import admission
from payments.services.payment_methods import payment_method_test_card
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


class PaymentMethodInputSerializer(InputSerializer):
    type = serializers.ChoiceField(choices=PaymentMethodType.choices)
    card = _CardInput(required=False)
    upi = _UpiInput(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == PaymentMethodType.CARD and "card" not in attrs:
            raise serializers.ValidationError({"card": "Card details are required."}, code="required")
        return attrs


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "a saved payment method's id (pm_…); in test mode also pm_card_visa …"},
            {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": PaymentMethodType.values},
                    "card": {"type": "object", "description": "number, exp_month, exp_year, cvc"},
                    "upi": {"type": "object", "description": "flow, vpa, expires_in"},
                },
                "required": ["type"],
            },
        ]
    }
)
class _PaymentMethodField(serializers.Field):  # type: ignore[type-arg]
    """A ``pm_…`` id, or the payment method inline (a card becomes a payment method behind the scenes)."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            if not data.startswith("pm_") or len(data) > 64:
                raise serializers.ValidationError("Expected a pm_ id or a payment method object.", code="invalid")
            return {"id": data}
        inner = PaymentMethodInputSerializer(data=data)
        if not inner.is_valid():
            raise serializers.ValidationError(inner.errors)
        return dict(inner.validated_data)

    def to_representation(self, value: Any) -> Any:
        return value


def _metadata_validate(value: dict[str, str]) -> None:
    if len(value) > METADATA_MAX_KEYS:
        raise serializers.ValidationError(f"At most {METADATA_MAX_KEYS} keys.", code="invalid")
    if any(not key or len(key) > 40 for key in value):
        raise serializers.ValidationError("Keys are 1 to 40 characters.", code="invalid")


class PaymentCreateInputSerializer(InputSerializer):
    amount = serializers.IntegerField(help_text="minor units of currency (cents, paise, yen)")
    currency = serializers.CharField(min_length=3, max_length=3, help_text="lower-case ISO 4217")
    payment_method = _PaymentMethodField()
    customer = serializers.CharField(max_length=64, required=False)
    setup_future_usage = serializers.ChoiceField(choices=SetupFutureUsage.choices, required=False)
    off_session = serializers.BooleanField(default=False, help_text="a merchant-initiated charge of a saved card")
    capture_method = serializers.ChoiceField(choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC)
    confirm = serializers.BooleanField(default=False)
    description = serializers.CharField(max_length=1000, allow_blank=True, default="")
    metadata = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), default=dict, validators=[_metadata_validate]
    )
    # No default: "" is not an email, and the schema must not advertise a default its own format refuses.
    customer_email = serializers.EmailField(allow_blank=True, required=False)


_CREATE_FIELDS = PaymentCreateInputSerializer._declared_fields
_PAYMENT_METHOD_TYPES = frozenset(PaymentMethodType.values)
_CAPTURE_METHODS = frozenset(CaptureMethod.values)


def _plain_text(value: Any, *, max_length: int, min_length: int = 1) -> bool:
    """A string DRF's ``CharField`` would return unchanged and accept: nothing to trim, no NUL, no lone surrogate,
    no control character (those go to DRF, which decides), within the lengths."""
    return (
        type(value) is str and min_length <= len(value) <= max_length and value.isprintable() and value.strip() == value
    )


def _plain_integer(value: Any) -> bool:
    return type(value) is int and -BIGINT_MAX <= value <= BIGINT_MAX


def _create_body_plain(data: Any) -> dict[str, Any] | None:
    """``PaymentCreateInputSerializer``'s validated data for the usual body (an inline card or a ``pm_`` id,
    nothing DRF would convert or refuse), without building a serializer: DRF deep-copies every declared field,
    nested ones too, for each request, which was a sixth of the endpoint's CPU. ``None`` for anything else, which
    the serializer then validates: every error response is still DRF's own (a test holds the two to the same
    validated data)."""
    if not isinstance(data, dict) or not data.keys() <= {
        "amount",
        "currency",
        "payment_method",
        "off_session",
        "capture_method",
        "confirm",
        "description",
        "metadata",
    }:
        return None
    amount, currency, method = data.get("amount"), data.get("currency"), data.get("payment_method")
    if not _plain_integer(amount) or not _plain_text(currency, min_length=3, max_length=3):
        return None
    if isinstance(method, str):
        if not method.startswith("pm_") or len(method) > 64:
            return None
        payment_method: dict[str, Any] = {"id": method}
    else:
        card = method.get("card") if isinstance(method, dict) else None
        if (
            not isinstance(card, dict)
            or method.keys() != {"type", "card"}  # type: ignore[union-attr]
            or method["type"] != PaymentMethodType.CARD  # type: ignore[index]
            or type(method["type"]) is not str  # type: ignore[index]
            or card.keys() != {"number", "exp_month", "exp_year", "cvc"}
            or not _plain_text(card["number"], max_length=32)
            or not _plain_text(card["cvc"], max_length=4)
            or not _plain_integer(card["exp_month"])
            or not _plain_integer(card["exp_year"])
        ):
            return None
        payment_method = {"type": method["type"], "card": dict(card)}  # type: ignore[index]
    validated: dict[str, Any] = {"amount": amount, "currency": currency, "payment_method": payment_method}
    for name in ("off_session", "confirm"):
        value = data.get(name, _CREATE_FIELDS[name].default)
        if type(value) is not bool:
            return None
        validated[name] = value
    capture_method = data.get("capture_method", _CREATE_FIELDS["capture_method"].default)
    description = data.get("description", _CREATE_FIELDS["description"].default)
    if not (isinstance(capture_method, str) and capture_method in _CAPTURE_METHODS) or not _plain_text(
        description, min_length=0, max_length=1000
    ):
        return None
    validated["capture_method"], validated["description"] = capture_method, description
    metadata = data.get("metadata")
    if metadata is None and "metadata" not in data:
        metadata = {}
    elif not isinstance(metadata, dict) or not all(
        type(key) is str and _plain_text(value, min_length=0, max_length=500) for key, value in metadata.items()
    ):
        return None
    try:
        _metadata_validate(metadata)
    except serializers.ValidationError:
        return None
    validated["metadata"] = dict(metadata)
    return validated


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
    customer: Customer | None
    setup_future_usage: str
    off_session: bool


def card_input(card: dict[str, Any]) -> tuple[CardSummary, RawCard]:
    """A card from a request, checked the way an acquirer would (no call made); the number stays in memory."""
    number = str(card["number"]).replace(" ", "").replace("-", "")
    details = card_validate(
        number=number,
        exp_month=card["exp_month"],
        exp_year=card["exp_year"],
        cvc=card["cvc"],
        today=timezone.now().date(),
    )
    return details, RawCard(number=number, exp_month=details.exp_month, exp_year=details.exp_year, cvc=card["cvc"])


def _saved_payment_method(request: Request, payment_method_id: str) -> PaymentMethodInput:
    livemode = request_api_key(request).livemode
    if not livemode:
        test_card = payment_method_test_card(payment_method_id, today=timezone.now().date())
        if test_card is not None:
            # Stripe's test payment methods: the merchant's one payment method of that name (made at first use).
            return CardPaymentMethod(card=test_card[0], raw=test_card[1], test_alias=payment_method_id)
    method = selectors.payment_method_get(
        merchant=request_merchant(request),
        livemode=livemode,
        payment_method_id=payment_method_id,
        param="payment_method",
    )
    if method.type == PaymentMethodType.UPI:
        return UpiPaymentMethod(flow=UpiFlow.COLLECT, vpa=method.upi_vpa, saved=method)
    summary = CardSummary(
        brand=method.card_brand,
        last4=method.card_last4,
        fingerprint=method.card_fingerprint,
        exp_month=method.card_exp_month or 0,
        exp_year=method.card_exp_year or 0,
    )
    return CardPaymentMethod(card=summary, saved=method)


def _payment_method(request: Request, data: dict[str, Any]) -> PaymentMethodInput:
    if "id" in data:
        return _saved_payment_method(request, data["id"])
    if data["type"] == PaymentMethodType.CARD:
        details, raw = card_input(data["card"])
        return CardPaymentMethod(card=details, raw=raw)
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
    # The representation the service wrote into the payment's event, when it just wrote one: the same state.
    return Response(payment.known_representation or payment_representation(payment))


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
        data = _create_body_plain(request.data) or _validated(PaymentCreateInputSerializer, request)
        method = _payment_method(request, data["payment_method"])
        customer = (
            selectors.customer_get(
                merchant=request_merchant(request),
                livemode=request_api_key(request).livemode,
                customer_id=data["customer"],
                param="customer",
            )
            if data.get("customer")
            else None
        )
        currency = payment_create_validate(
            merchant=request_merchant(request),
            amount=data["amount"],
            currency=data["currency"],
            payment_method=method,
            capture_method=data["capture_method"],
            customer=customer,
            setup_future_usage=data.get("setup_future_usage", ""),
            off_session=data["off_session"],
            confirm=data["confirm"],
        )
        if data["confirm"]:
            kind = PaymentMethodType.CARD if isinstance(method, CardPaymentMethod) else PaymentMethodType.UPI
            admission.executor_admission_check(method=kind)
        return PaymentCreateInput(
            amount=data["amount"],
            currency=currency,
            payment_method=method,
            capture_method=data["capture_method"],
            confirm=data["confirm"],
            description=data["description"],
            metadata=data["metadata"],
            customer_email=data.get("customer_email", ""),
            customer=customer,
            setup_future_usage=data.get("setup_future_usage", ""),
            off_session=data["off_session"],
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
            customer=data.customer,
            setup_future_usage=data.setup_future_usage,
            off_session=data.off_session,
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
        return paginator.get_paginated_response([payment_representation(payment) for payment in page])

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
