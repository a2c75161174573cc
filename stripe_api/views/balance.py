"""``/stripe/v1/balance``, ``balance_transactions``, ``payouts`` and ``disputes``: the merchant's money, read from the
ledger, in Stripe's shapes."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ledger.models import JournalTransaction
from payments import selectors
from payments.exceptions import ResourceMissingError
from payments.representations import dispute_representation, payout_representation
from payments.services.disputes import dispute_accept, dispute_update
from payments.services.payouts import payout_cancel, payout_create
from stripe_api import objects
from stripe_api.views.base import StripeInput, StripeView, StripeWriteView, metadata_field, scope
from stripe_api.wire import metadata_given


class BalanceApi(StripeView):
    def get(self, request: Request) -> Response:
        merchant, livemode = scope(request)
        balances = selectors.balance_get(merchant=merchant)

        def funds(amount: int, currency: str) -> dict[str, Any]:
            return {"amount": amount, "currency": currency, "source_types": {"card": amount}}

        return Response(
            {
                "object": "balance",
                "available": [funds(m.amount, m.currency) for m in balances.available],
                "pending": [funds(m.amount, m.currency) for m in balances.pending],
                "livemode": livemode,
            }
        )


def _balance_transaction(txn: JournalTransaction, now: Any) -> dict[str, Any]:
    kind = selectors.balance_transaction_type(txn.reference, txn.source_type)
    net = int(txn.net or 0)  # type: ignore[attr-defined]  # annotated by the selector
    fee = int(txn.metadata.get("fee") or 0) if kind in ("payment", "dispute") else 0
    available_on = txn.available_on or txn.occurred_at
    return objects.balance_transaction(
        {
            "id": txn.id,
            "type": kind,
            "amount": net + fee,
            "fee": fee,
            "net": net,
            "currency": txn.currency,  # type: ignore[attr-defined]
            "status": "pending" if available_on > now else "available",
            "available_on": available_on,
            "created": txn.occurred_at,
            "source": txn.source_id,
            "description": txn.description,
        }
    )


class BalanceTransactionListApi(StripeView):
    is_list = True

    def get(self, request: Request) -> Response:
        merchant, _ = scope(request)
        now = timezone.now()
        txns = selectors.balance_transaction_list(merchant=merchant)
        return self.list_page(request, txns, lambda page: [_balance_transaction(t, now) for t in page])


class BalanceTransactionDetailApi(StripeView):
    def get(self, request: Request, balance_transaction_id: str) -> Response:
        merchant, _ = scope(request)
        txn = selectors.balance_transaction_list(merchant=merchant).filter(pk=balance_transaction_id).first()
        if txn is None:
            raise ResourceMissingError(f"No such balance transaction: '{balance_transaction_id[:64]}'.")
        return Response(_balance_transaction(txn, timezone.now()))


class PayoutCreateInput(StripeInput):
    amount = serializers.IntegerField(min_value=1)
    currency = serializers.CharField(max_length=3)
    description = serializers.CharField(max_length=500, allow_blank=True, required=False)
    metadata = metadata_field()


class PayoutListCreateApi(StripeWriteView):
    input_serializer = PayoutCreateInput
    query_parameters = frozenset({"status"})
    is_list = True

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        payout = payout_create(
            merchant=merchant,
            livemode=livemode,
            amount=data["amount"],
            currency=data["currency"].lower(),
            description=data.get("description", ""),
            metadata=metadata_given(data),
        )
        return Response(objects.payout(payout_representation(payout)))

    def get(self, request: Request) -> Response:
        merchant, livemode = scope(request)
        status = self.query.get("status")
        payouts = selectors.payout_list(
            merchant=merchant, livemode=livemode, status=status if isinstance(status, str) else None
        )
        return self.list_page(request, payouts, lambda page: [objects.payout(payout_representation(p)) for p in page])


class PayoutDetailApi(StripeView):
    def get(self, request: Request, payout_id: str) -> Response:
        merchant, livemode = scope(request)
        payout = selectors.payout_get(merchant=merchant, livemode=livemode, payout_id=payout_id)
        return Response(objects.payout(payout_representation(payout)))


class PayoutCancelApi(StripeWriteView):
    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        payout = payout_cancel(merchant=merchant, livemode=livemode, payout_id=kwargs["payout_id"])
        return Response(objects.payout(payout_representation(payout)))


class DisputeListApi(StripeView):
    query_parameters = frozenset({"payment_intent"})
    is_list = True

    def get(self, request: Request) -> Response:
        merchant, livemode = scope(request)
        disputes = selectors.dispute_list(merchant=merchant, livemode=livemode)
        intent = self.query.get("payment_intent")
        if isinstance(intent, str):
            disputes = disputes.filter(payment_id=intent)
        return self.list_page(
            request, disputes, lambda page: [objects.dispute(dispute_representation(d)) for d in page]
        )


class DisputeUpdateInput(StripeInput):
    evidence = serializers.DictField(child=serializers.CharField(max_length=20000, allow_blank=True), required=False)
    submit = serializers.BooleanField(required=False)


class DisputeDetailApi(StripeWriteView):
    input_serializer = DisputeUpdateInput

    def get(self, request: Request, dispute_id: str) -> Response:
        merchant, livemode = scope(request)
        dispute = selectors.dispute_get(merchant=merchant, livemode=livemode, dispute_id=dispute_id)
        return Response(objects.dispute(dispute_representation(dispute)))

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        dispute = dispute_update(
            merchant=merchant,
            livemode=livemode,
            dispute_id=kwargs["dispute_id"],
            evidence=data.get("evidence"),
            submit=data.get("submit", False),
        )
        return Response(objects.dispute(dispute_representation(dispute)))


class DisputeCloseApi(StripeWriteView):
    """``POST /v1/disputes/{id}/close``: Stripe's name for accepting a dispute."""

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant, livemode = scope(request)
        dispute = dispute_accept(merchant=merchant, livemode=livemode, dispute_id=kwargs["dispute_id"])
        return Response(objects.dispute(dispute_representation(dispute)))
