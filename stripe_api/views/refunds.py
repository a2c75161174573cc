"""``/stripe/v1/refunds``: a refund of a PaymentIntent (``payment_intent``), all of it or part of it."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from payments import selectors
from payments.enums import RefundReason
from payments.exceptions import InvalidRequestError
from payments.representations import refund_representation
from payments.services.refunds import refund_create
from stripe_api import objects
from stripe_api.views.base import StripeInput, StripeView, StripeWriteView, metadata_field, scope
from stripe_api.wire import metadata_given


class RefundCreateInput(StripeInput):
    payment_intent = serializers.CharField(max_length=64, required=False)
    charge = serializers.CharField(max_length=64, required=False)
    amount = serializers.IntegerField(required=False)
    reason = serializers.ChoiceField(
        choices=[RefundReason.DUPLICATE, RefundReason.FRAUDULENT, RefundReason.REQUESTED_BY_CUSTOMER], required=False
    )
    metadata = metadata_field()


class RefundListCreateApi(StripeWriteView):
    input_serializer = RefundCreateInput
    query_parameters = frozenset({"payment_intent"})
    is_list = True

    def validate_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("charge"):
            # A charge is the attempt that charged the card (a PaymentIntent's latest_charge): refund its payment.
            merchant, livemode = scope(request)
            payment = selectors.payment_get_by_charge(
                merchant=merchant, livemode=livemode, attempt_id=data["charge"], param="charge"
            )
            if data.get("payment_intent") not in (None, payment.id):
                raise InvalidRequestError(
                    "The charge belongs to another PaymentIntent.", code="parameter_invalid", param="charge"
                )
            return {**data, "payment_intent": payment.id}
        if not data.get("payment_intent"):
            raise InvalidRequestError(
                "Pass the payment_intent (or the charge) to refund.", code="parameter_missing", param="payment_intent"
            )
        return data

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        refund = refund_create(
            merchant=merchant,
            livemode=livemode,
            payment_id=data["payment_intent"],
            amount=data.get("amount"),
            reason=data.get("reason", ""),
            metadata=metadata_given(data),
        )
        return Response(objects.refund(refund_representation(refund)))

    def get(self, request: Request) -> Response:
        merchant, livemode = scope(request)
        intent = self.query.get("payment_intent")
        refunds = selectors.refund_list(
            merchant=merchant, livemode=livemode, payment_id=intent if isinstance(intent, str) else None
        )
        return self.list_page(request, refunds, lambda page: [objects.refund(refund_representation(r)) for r in page])


class RefundDetailApi(StripeView):
    def get(self, request: Request, refund_id: str) -> Response:
        merchant, livemode = scope(request)
        refund = selectors.refund_get(merchant=merchant, livemode=livemode, refund_id=refund_id)
        return Response(objects.refund(refund_representation(refund)))
