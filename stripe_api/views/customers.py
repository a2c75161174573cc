"""``/stripe/v1/customers`` and ``/stripe/v1/payment_methods``: saved cards, the Stripe way."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from payments import selectors
from payments.cards import card_validate
from payments.connectors.base import RawCard
from payments.enums import PaymentMethodType
from payments.models import PaymentMethod
from payments.representations import customer_representation, payment_method_representation
from payments.services.payment_methods import (
    customer_create,
    customer_delete,
    customer_update,
    payment_method_attach,
    payment_method_create,
    payment_method_detach,
    payment_method_test_card,
)
from payments.upi import vpa_validate
from stripe_api import objects
from stripe_api.views.base import StripeInput, StripeView, StripeWriteView, metadata_field, scope
from stripe_api.wire import metadata_given


class CustomerCreateInput(StripeInput):
    email = serializers.EmailField(allow_blank=True, required=False)
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    metadata = metadata_field()
    payment_method = serializers.CharField(max_length=64, required=False)


class CustomerListCreateApi(StripeWriteView):
    input_serializer = CustomerCreateInput
    query_parameters = frozenset({"email"})
    is_list = True

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        customer = customer_create(
            merchant=merchant,
            livemode=livemode,
            email=data.get("email", ""),
            name=data.get("name", ""),
            metadata=metadata_given(data),
        )
        if data.get("payment_method"):
            _attach(request, data["payment_method"], customer.id)
        return Response(objects.customer(customer_representation(customer)))

    def get(self, request: Request) -> Response:
        merchant, livemode = scope(request)
        email = self.query.get("email")
        customers = selectors.customer_list(
            merchant=merchant, livemode=livemode, email=email if isinstance(email, str) else None
        )
        return self.list_page(
            request, customers, lambda page: [objects.customer(customer_representation(c)) for c in page]
        )


class CustomerUpdateInput(StripeInput):
    email = serializers.EmailField(allow_blank=True, required=False)
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    metadata = metadata_field()


class CustomerDetailApi(StripeWriteView):
    input_serializer = CustomerUpdateInput

    def get(self, request: Request, customer_id: str) -> Response:
        merchant, livemode = scope(request)
        customer = selectors.customer_get(merchant=merchant, livemode=livemode, customer_id=customer_id)
        return Response(objects.customer(customer_representation(customer)))

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        customer = selectors.customer_get(merchant=merchant, livemode=livemode, customer_id=kwargs["customer_id"])
        customer = customer_update(
            customer=customer, email=data.get("email"), name=data.get("name"), metadata=data.get("metadata")
        )
        return Response(objects.customer(customer_representation(customer)))

    def delete(self, request: Request, customer_id: str) -> Response:
        merchant, livemode = scope(request)
        customer_delete(customer=selectors.customer_get(merchant=merchant, livemode=livemode, customer_id=customer_id))
        return Response(objects.customer_deleted(customer_id))


class CustomerPaymentMethodListApi(StripeView):
    """``GET /v1/customers/{id}/payment_methods`` (``stripe.Customer.list_payment_methods``)."""

    query_parameters = frozenset({"type"})
    is_list = True

    def get(self, request: Request, customer_id: str) -> Response:
        return _payment_method_page(self, request, customer_id)


def _payment_method_page(view: StripeView, request: Request, customer_id: str) -> Response:
    merchant, livemode = scope(request)
    customer = selectors.customer_get(merchant=merchant, livemode=livemode, customer_id=customer_id, param="customer")
    methods = selectors.payment_method_list(merchant=merchant, livemode=livemode, customer=customer)
    kind = view.query.get("type")
    if isinstance(kind, str):
        methods = methods.filter(type=kind)
    return view.list_page(
        request, methods, lambda page: [objects.payment_method(payment_method_representation(m)) for m in page]
    )


class _CardInput(serializers.Serializer[Any]):
    number = serializers.CharField(max_length=32, write_only=True)
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()
    cvc = serializers.CharField(max_length=4, write_only=True)


class _UpiInput(serializers.Serializer[Any]):
    vpa = serializers.CharField(max_length=255)


class PaymentMethodCreateInput(StripeInput):
    type = serializers.ChoiceField(choices=PaymentMethodType.values)
    card = _CardInput(required=False)
    upi = _UpiInput(required=False)
    metadata = metadata_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = str(attrs["type"])
        if kind not in attrs:
            raise serializers.ValidationError({kind: f"The {kind} details are required."}, code="required")
        return attrs


class PaymentMethodListCreateApi(StripeWriteView):
    """``POST`` saves a card or UPI id; ``GET`` lists a customer's (``customer`` is required, as in Stripe)."""

    input_serializer = PaymentMethodCreateInput
    query_parameters = frozenset({"customer", "type"})
    is_list = True

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        metadata = metadata_given(data)
        if data["type"] == PaymentMethodType.CARD:
            card = data["card"]
            number = str(card["number"]).replace(" ", "").replace("-", "")
            summary = card_validate(
                number=number,
                exp_month=card["exp_month"],
                exp_year=card["exp_year"],
                cvc=card["cvc"],
                today=timezone.now().date(),
            )
            raw = RawCard(number=number, exp_month=summary.exp_month, exp_year=summary.exp_year, cvc=card["cvc"])
            method = payment_method_create(merchant=merchant, livemode=livemode, card=(summary, raw), metadata=metadata)
        else:
            vpa = vpa_validate(data["upi"]["vpa"])
            method = payment_method_create(merchant=merchant, livemode=livemode, vpa=vpa, metadata=metadata)
        return Response(objects.payment_method(payment_method_representation(method)))

    def get(self, request: Request) -> Response:
        customer_id = self.query.get("customer")
        if not isinstance(customer_id, str) or not customer_id:
            raise serializers.ValidationError(
                {"customer": ["Pass the customer whose payment methods to list."]}, code="required"
            )
        return _payment_method_page(self, request, customer_id)


class PaymentMethodDetailApi(StripeView):
    def get(self, request: Request, payment_method_id: str) -> Response:
        merchant, livemode = scope(request)
        method = selectors.payment_method_get(merchant=merchant, livemode=livemode, payment_method_id=payment_method_id)
        return Response(objects.payment_method(payment_method_representation(method)))


def _attach(request: Request, payment_method_id: str, customer_id: str) -> PaymentMethod:
    """Attaches a saved payment method; a test id (``pm_card_visa``) becomes a new saved card, as in Stripe."""
    merchant, livemode = scope(request)
    customer = selectors.customer_get(merchant=merchant, livemode=livemode, customer_id=customer_id, param="customer")
    test_card = None if livemode else payment_method_test_card(payment_method_id, today=timezone.now().date())
    if test_card is not None:
        return payment_method_create(merchant=merchant, livemode=livemode, card=test_card, customer=customer)
    return payment_method_attach(
        merchant=merchant, livemode=livemode, payment_method_id=payment_method_id, customer=customer
    )


class PaymentMethodAttachInput(StripeInput):
    customer = serializers.CharField(max_length=64)


class PaymentMethodAttachApi(StripeWriteView):
    input_serializer = PaymentMethodAttachInput

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        method = _attach(request, kwargs["payment_method_id"], data["customer"])
        return Response(objects.payment_method(payment_method_representation(method)))


class PaymentMethodDetachApi(StripeWriteView):
    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        method = payment_method_detach(
            merchant=merchant, livemode=livemode, payment_method_id=kwargs["payment_method_id"]
        )
        shaped = objects.payment_method(payment_method_representation(method))
        return Response({**shaped, "customer": None})
