"""``/stripe/v1/payment_intents``: Stripe's PaymentIntent over the platform's payments.

A PaymentIntent is a payment; its payment method is given when it is created (a ``pm_…`` id, or in test mode one
of Stripe's test ids such as ``pm_card_visa``). A card confirm answers with the provider's outcome when it comes
within ``STRIPE_API_CONFIRM_WAIT_SECONDS``; a decline is a 402 ``card_error`` and the intent shows
``requires_payment_method`` with ``last_payment_error``, as in Stripe.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from payments import selectors
from payments.connectors.base import CardSummary
from payments.enums import CancellationReason, CaptureMethod, PaymentMethodType, PaymentStatus, SetupFutureUsage
from payments.exceptions import InvalidRequestError
from payments.models import Customer, Merchant
from payments.representations import payment_representation
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
    payment_update,
)
from stripe_api import objects
from stripe_api.errors import card_error_for
from stripe_api.views.base import (
    StripeInput,
    StripeView,
    StripeWriteView,
    created_filters,
    metadata_field,
    payment_outcome_wait,
    scope,
)

_CAPTURE_METHODS = {"automatic": CaptureMethod.AUTOMATIC, "automatic_async": CaptureMethod.AUTOMATIC}
_CAPTURE_METHODS["manual"] = CaptureMethod.MANUAL


def saved_payment_method(*, merchant: Merchant, livemode: bool, payment_method_id: str) -> PaymentMethodInput:
    """A ``pm_…`` id as the payment services take it; in test mode Stripe's test ids are the sandbox's test cards."""
    if not livemode:
        test_card = payment_method_test_card(payment_method_id, today=timezone.now().date())
        if test_card is not None:
            # The merchant's one payment method of that name, made at first use (as /v1 does).
            return CardPaymentMethod(card=test_card[0], raw=test_card[1], test_alias=payment_method_id)
    method = selectors.payment_method_get(
        merchant=merchant, livemode=livemode, payment_method_id=payment_method_id, param="payment_method"
    )
    if method.type == PaymentMethodType.UPI:
        return UpiPaymentMethod(flow="collect", vpa=method.upi_vpa, saved=method)
    summary = CardSummary(
        brand=method.card_brand,
        last4=method.card_last4,
        fingerprint=method.card_fingerprint,
        exp_month=method.card_exp_month or 0,
        exp_year=method.card_exp_year or 0,
    )
    return CardPaymentMethod(card=summary, saved=method)


class _AutomaticPaymentMethods(serializers.Serializer[Any]):
    enabled = serializers.BooleanField()
    allow_redirects = serializers.ChoiceField(choices=["always", "never"], required=False)


class PaymentIntentCreateInput(StripeInput):
    amount = serializers.IntegerField()
    currency = serializers.CharField(max_length=3)
    payment_method = serializers.CharField(max_length=64, required=False)
    payment_method_types = serializers.ListField(
        child=serializers.ChoiceField(choices=PaymentMethodType.values), required=False
    )
    automatic_payment_methods = _AutomaticPaymentMethods(required=False)
    customer = serializers.CharField(max_length=64, required=False)
    confirm = serializers.BooleanField(default=False)
    capture_method = serializers.ChoiceField(choices=list(_CAPTURE_METHODS), default="automatic")
    confirmation_method = serializers.ChoiceField(choices=["automatic"], required=False)
    description = serializers.CharField(max_length=1000, allow_blank=True, default="")
    metadata = metadata_field()
    receipt_email = serializers.EmailField(allow_blank=True, required=False)
    setup_future_usage = serializers.ChoiceField(choices=SetupFutureUsage.values, required=False)
    off_session = serializers.CharField(max_length=10, required=False)
    return_url = serializers.URLField(max_length=2048, required=False)


def _off_session(value: str | None) -> bool:
    # Stripe takes a boolean or "one_off" / "recurring" (both mean the customer is not present).
    return value is not None and value.lower() in ("true", "one_off", "recurring")


def _customer(merchant: Merchant, livemode: bool, customer_id: str | None) -> Customer | None:
    if not customer_id:
        return None
    return selectors.customer_get(merchant=merchant, livemode=livemode, customer_id=customer_id, param="customer")


def _intent(payment: Any) -> dict[str, Any]:
    return objects.payment_intent(payment.known_representation or payment_representation(payment))


class PaymentIntentListCreateApi(StripeWriteView):
    input_serializer = PaymentIntentCreateInput
    query_parameters = frozenset({"customer", "created"})
    is_list = True

    def validate_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        merchant, livemode = scope(request)
        if not data.get("payment_method"):
            raise InvalidRequestError(
                "Ledgerline needs the payment method when a PaymentIntent is created: pass payment_method.",
                code="parameter_missing",
                param="payment_method",
            )
        method = saved_payment_method(merchant=merchant, livemode=livemode, payment_method_id=data["payment_method"])
        customer = _customer(merchant, livemode, data.get("customer"))
        off_session = _off_session(data.get("off_session"))
        capture_method = _CAPTURE_METHODS[data["capture_method"]]
        currency = payment_create_validate(
            merchant=merchant,
            amount=data["amount"],
            currency=data["currency"],
            payment_method=method,
            capture_method=capture_method,
            customer=customer,
            setup_future_usage=data.get("setup_future_usage", ""),
            off_session=off_session,
            confirm=data["confirm"],
        )
        if data["confirm"]:
            kind = PaymentMethodType.CARD if isinstance(method, CardPaymentMethod) else PaymentMethodType.UPI
            admission.executor_admission_check(method=kind)
        return {
            **data,
            "currency": currency,
            "method": method,
            "customer": customer,
            "off_session": off_session,
            "capture_method": capture_method,
        }

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        payment = payment_create(
            merchant=merchant,
            livemode=livemode,
            amount=data["amount"],
            currency=data["currency"],
            payment_method=data["method"],
            capture_method=data["capture_method"],
            confirm=data["confirm"],
            description=data["description"],
            metadata=data.get("metadata") or {},
            customer_email=data.get("receipt_email", ""),
            customer=data["customer"],
            setup_future_usage=data.get("setup_future_usage", ""),
            off_session=data["off_session"],
        )
        return Response(_intent(payment))

    def settle(self, request: Request, response: Response) -> Response | None:
        return settle_confirm(request, response)

    def get(self, request: Request) -> Response:
        merchant, livemode = scope(request)
        created = created_filters(self.query)
        payments = selectors.payment_list(
            merchant=merchant,
            livemode=livemode,
            created_gte=created.get("created_gte"),
            created_lte=created.get("created_lte"),
        )
        customer_id = self.query.get("customer")
        if isinstance(customer_id, str):
            payments = payments.filter(customer_id=customer_id)
        return self.list_page(
            request, payments, lambda page: [objects.payment_intent(payment_representation(p)) for p in page]
        )


def settle_confirm(request: Request, response: Response) -> Response | None:
    """After a confirm committed: wait (bounded) for the provider's answer and give the outcome, Stripe's way."""
    intent = response.data
    if not isinstance(intent, dict) or intent.get("status") != PaymentStatus.PROCESSING:
        return None
    merchant, livemode = scope(request)
    payment = payment_outcome_wait(merchant=merchant, livemode=livemode, payment_id=str(intent["id"]))
    settled = objects.payment_intent(payment_representation(payment))
    if payment.status == PaymentStatus.FAILED:
        raise card_error_for(settled)
    return Response(settled)


class PaymentIntentUpdateInput(StripeInput):
    description = serializers.CharField(max_length=1000, allow_blank=True, required=False)
    metadata = metadata_field()
    receipt_email = serializers.EmailField(allow_blank=True, required=False)


class PaymentIntentDetailApi(StripeWriteView):
    """``GET`` retrieves; ``POST`` updates what describes the payment (the amount and method are fixed once created)."""

    input_serializer = PaymentIntentUpdateInput

    def get(self, request: Request, payment_intent_id: str) -> Response:
        merchant, livemode = scope(request)
        payment = selectors.payment_get(merchant=merchant, livemode=livemode, payment_id=payment_intent_id)
        return Response(objects.payment_intent(payment_representation(payment)))

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        payment = payment_update(
            merchant=merchant,
            livemode=livemode,
            payment_id=kwargs["payment_intent_id"],
            description=data.get("description"),
            metadata=data.get("metadata"),
            customer_email=data.get("receipt_email"),
        )
        return Response(objects.payment_intent(payment_representation(payment)))


class PaymentIntentConfirmInput(StripeInput):
    payment_method = serializers.CharField(max_length=64, required=False)
    # Accepted for Stripe integrations that always send it; nothing here redirects (no 3-D Secure).
    return_url = serializers.URLField(max_length=2048, required=False)


class PaymentIntentConfirmApi(StripeWriteView):
    input_serializer = PaymentIntentConfirmInput

    def validate_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        merchant, livemode = scope(request)
        payment = selectors.payment_get(merchant=merchant, livemode=livemode, payment_id=kwargs["payment_intent_id"])
        given = data.get("payment_method")
        # A test id (pm_card_visa) became a payment method of its own at creation: the same card, given again, is
        # the same fingerprint; another test card is another method, which this confirm cannot switch to.
        test_card = None if livemode else payment_method_test_card(given or "", today=timezone.now().date())
        same_test_card = test_card is not None and test_card[0].fingerprint == payment.card_fingerprint
        if given and given != payment.payment_method_id and not same_test_card:
            raise InvalidRequestError(
                "Ledgerline confirms a PaymentIntent with the payment method it was created with.",
                code="parameter_invalid",
                param="payment_method",
            )
        admission.executor_admission_check()
        return data

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        payment = payment_confirm(merchant=merchant, livemode=livemode, payment_id=kwargs["payment_intent_id"])
        return Response(_intent(payment))

    def settle(self, request: Request, response: Response) -> Response | None:
        return settle_confirm(request, response)


class PaymentIntentCaptureInput(StripeInput):
    amount_to_capture = serializers.IntegerField(required=False, min_value=1)


class PaymentIntentCaptureApi(StripeWriteView):
    input_serializer = PaymentIntentCaptureInput

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        payment = payment_capture(
            merchant=merchant,
            livemode=livemode,
            payment_id=kwargs["payment_intent_id"],
            amount_to_capture=data.get("amount_to_capture"),
        )
        return Response(_intent(payment))


class PaymentIntentCancelInput(StripeInput):
    cancellation_reason = serializers.ChoiceField(
        choices=[c for c in CancellationReason.values if c != CancellationReason.AUTHORIZATION_EXPIRED],
        required=False,
    )


class PaymentIntentCancelApi(StripeWriteView):
    input_serializer = PaymentIntentCancelInput

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        payment = payment_cancel(
            merchant=merchant,
            livemode=livemode,
            payment_id=kwargs["payment_intent_id"],
            reason=data.get("cancellation_reason", ""),
        )
        return Response(_intent(payment))


class ChargeDetailApi(StripeView):
    """``GET /v1/charges/{id}``: a PaymentIntent's ``latest_charge``, the Charge derived from its payment."""

    def get(self, request: Request, charge_id: str) -> Response:
        merchant, livemode = scope(request)
        payment = selectors.payment_get_by_charge(merchant=merchant, livemode=livemode, attempt_id=charge_id)
        return Response(objects.charge(payment_representation(payment)))
