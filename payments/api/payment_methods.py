"""``/v1/payment_methods``: save a card (into the vault) or a UPI id, attach it to a customer, detach it.

Responses never carry the number. Creating one calls no provider: the card is checked here the way an acquirer
would, and tokenized by the executor the first time a payment uses it.
"""

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
from payments.api.payments import _CardInput, _validated, card_input
from payments.enums import PaymentMethodType
from payments.exceptions import InvalidRequestError
from payments.representations import PaymentMethodSerializer, payment_method_representation
from payments.services.payment_methods import payment_method_attach, payment_method_create, payment_method_detach
from payments.upi import vpa_validate


class _UpiSaveInput(InputSerializer):
    vpa = serializers.CharField(max_length=255)


class PaymentMethodCreateInputSerializer(InputSerializer):
    type = serializers.ChoiceField(choices=PaymentMethodType.choices)
    card = _CardInput(required=False)
    upi = _UpiSaveInput(required=False)
    customer = serializers.CharField(max_length=64, required=False)
    metadata = metadata_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = str(attrs["type"])
        if kind not in attrs:
            raise serializers.ValidationError({kind: f"The {kind} details are required."}, code="required")
        return attrs


class PaymentMethodAttachInputSerializer(InputSerializer):
    customer = serializers.CharField(max_length=64)


def _scope(request: Request) -> dict[str, Any]:
    return {"merchant": request_merchant(request), "livemode": request_api_key(request).livemode}


class PaymentMethodListCreateApi(IdempotentApiView[dict[str, Any]]):
    pagination_class = CursorListPagination
    input_serializer = PaymentMethodCreateInputSerializer
    query_parameters = frozenset({"customer"})

    @extend_schema(
        operation_id="payment_method_create",
        request=PaymentMethodCreateInputSerializer,
        responses={200: PaymentMethodSerializer},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Saves a card (its number into the vault, encrypted) or a UPI id; optionally to a customer."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        data = _validated(PaymentMethodCreateInputSerializer, request)
        if data["type"] == PaymentMethodType.CARD:
            data["card"] = card_input(data["card"])
        else:
            data["vpa"] = vpa_validate(data.pop("upi")["vpa"])
        if data.get("customer"):
            data["customer"] = selectors.customer_get(**_scope(request), customer_id=data["customer"], param="customer")
        return data

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        method = payment_method_create(
            **_scope(request),
            card=data.get("card"),
            vpa=data.get("vpa", ""),
            customer=data.get("customer"),
            metadata=data["metadata"],
        )
        return Response(payment_method_representation(method))

    @extend_schema(
        operation_id="payment_method_list",
        parameters=[OpenApiParameter("customer", str, required=True, description="the customer's cus_ id")],
        responses={200: PaymentMethodSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        customer_id = request.query_params.get("customer")
        if not customer_id:
            raise InvalidRequestError("List a customer's payment methods: ?customer=cus_…", param="customer")
        customer = selectors.customer_get(**_scope(request), customer_id=customer_id, param="customer")
        methods = selectors.payment_method_list(**_scope(request), customer=customer)
        return list_response(self, request, methods, lambda page: PaymentMethodSerializer(page, many=True).data)


class PaymentMethodRetrieveApi(ApiView):
    @extend_schema(operation_id="payment_method_retrieve", responses={200: PaymentMethodSerializer})
    def get(self, request: Request, payment_method_id: str) -> Response:
        method = selectors.payment_method_get(**_scope(request), payment_method_id=payment_method_id)
        return Response(payment_method_representation(method))


class PaymentMethodAttachApi(IdempotentApiView[dict[str, Any]]):
    input_serializer = PaymentMethodAttachInputSerializer

    @extend_schema(
        operation_id="payment_method_attach",
        request=PaymentMethodAttachInputSerializer,
        responses={200: PaymentMethodSerializer},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Saves the payment method to a customer, so it can be charged again (also off session)."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        data = _validated(PaymentMethodAttachInputSerializer, request)
        return {"customer": selectors.customer_get(**_scope(request), customer_id=data["customer"], param="customer")}

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        method = payment_method_attach(
            **_scope(request), payment_method_id=kwargs["payment_method_id"], customer=data["customer"]
        )
        return Response(payment_method_representation(method))


class PaymentMethodDetachApi(IdempotentApiView[None]):
    input_serializer = None

    @extend_schema(operation_id="payment_method_detach", request=None, responses={200: PaymentMethodSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Detaches the payment method from its customer for good: it is never charged again."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> None:
        return None

    def perform_post(self, request: Request, data: None, **kwargs: Any) -> Response:
        method = payment_method_detach(**_scope(request), payment_method_id=kwargs["payment_method_id"])
        return Response(payment_method_representation(method))
