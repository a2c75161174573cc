"""``/v1/refunds``, ``/v1/balance``, ``/v1/balance_transactions`` and ``/v1/payouts``: thin views over services
and selectors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CursorListPagination
from ledger.models import JournalTransaction
from payments import selectors
from payments.api.authentication import request_api_key, request_merchant
from payments.api.idempotency import IdempotentApiView
from payments.api.payments import _metadata_validate, _validated
from payments.enums import PayoutStatus, RefundReason
from payments.representations import PayoutSerializer, RefundSerializer, payout_representation, refund_representation
from payments.services.payouts import payout_cancel, payout_create
from payments.services.refunds import refund_create


def _metadata_field() -> serializers.DictField:
    return serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), default=dict, validators=[_metadata_validate]
    )


def _page(view: APIView, request: Request, queryset: Any, serializer: Any) -> Response:
    paginator = CursorListPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page))


# --- refunds ---------------------------------------------------------------------------------------------------
class RefundCreateInputSerializer(serializers.Serializer[Any]):
    payment = serializers.CharField(max_length=40)
    amount = serializers.IntegerField(required=False, min_value=1, help_text="default: what is left to refund")
    reason = serializers.ChoiceField(choices=RefundReason.choices, required=False, default="")
    metadata = _metadata_field()


class RefundListCreateApi(IdempotentApiView[dict[str, Any]]):
    pagination_class = CursorListPagination

    @extend_schema(operation_id="refund_create", request=RefundCreateInputSerializer, responses={200: RefundSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Refunds all or part of a captured payment; the provider is called asynchronously."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        return _validated(RefundCreateInputSerializer, request)

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        refund = refund_create(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            payment_id=data["payment"],
            amount=data.get("amount"),
            reason=data["reason"],
            metadata=data["metadata"],
        )
        return Response(refund_representation(refund))

    @extend_schema(operation_id="refund_list", responses={200: RefundSerializer(many=True)})
    def get(self, request: Request) -> Response:
        refunds = selectors.refund_list(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            payment_id=request.query_params.get("payment"),
        )
        return _page(self, request, refunds, lambda page: RefundSerializer(page, many=True).data)


class RefundRetrieveApi(APIView):
    @extend_schema(operation_id="refund_retrieve", responses={200: RefundSerializer})
    def get(self, request: Request, refund_id: str) -> Response:
        refund = selectors.refund_get(
            merchant=request_merchant(request), livemode=request_api_key(request).livemode, refund_id=refund_id
        )
        return Response(refund_representation(refund))


# --- balance ----------------------------------------------------------------------------------------------------
class _MoneySerializer(serializers.Serializer[Any]):
    amount = serializers.IntegerField()
    currency = serializers.CharField()


class BalanceSerializer(serializers.Serializer[Any]):
    object = serializers.CharField()
    available = _MoneySerializer(many=True)
    pending = _MoneySerializer(many=True)


class BalanceRetrieveApi(APIView):
    @extend_schema(operation_id="balance_retrieve", responses={200: BalanceSerializer})
    def get(self, request: Request) -> Response:
        balances = selectors.balance_get(merchant=request_merchant(request))
        return Response(
            {
                "object": "balance",
                "available": [{"amount": m.amount, "currency": m.currency} for m in balances.available],
                "pending": [{"amount": m.amount, "currency": m.currency} for m in balances.pending],
            }
        )


class BalanceTransactionSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    object = serializers.CharField()
    type = serializers.CharField()
    amount = serializers.IntegerField()
    fee = serializers.IntegerField()
    net = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "available"])
    available_on = serializers.DateTimeField()
    created = serializers.DateTimeField()
    source = serializers.CharField()  # type: ignore[assignment]  # the contract's name clashes with Field.source
    description = serializers.CharField()


def balance_transaction_representation(txn: JournalTransaction, *, now: datetime) -> dict[str, Any]:
    kind = selectors.balance_transaction_type(txn.reference, txn.source_type)
    net = int(txn.net or 0)  # type: ignore[attr-defined]  # annotated by the selector
    fee = int(txn.metadata.get("fee") or 0) if kind in ("payment", "dispute") else 0
    # Stored when it was posted (rows from before that column fall back to when they happened).
    available_on = txn.available_on or txn.occurred_at
    return {
        "id": txn.id,
        "object": "balance_transaction",
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


class BalanceTransactionListApi(APIView):
    pagination_class = CursorListPagination

    @extend_schema(operation_id="balance_transaction_list", responses={200: BalanceTransactionSerializer(many=True)})
    def get(self, request: Request) -> Response:
        txns = selectors.balance_transaction_list(merchant=request_merchant(request))
        now = timezone.now()
        return _page(
            self,
            request,
            txns,
            lambda page: (
                BalanceTransactionSerializer(
                    [balance_transaction_representation(t, now=now) for t in page], many=True
                ).data
            ),
        )


# --- payouts ----------------------------------------------------------------------------------------------------
class PayoutCreateInputSerializer(serializers.Serializer[Any]):
    amount = serializers.IntegerField(min_value=1)
    currency = serializers.CharField(min_length=3, max_length=3)
    description = serializers.CharField(max_length=500, allow_blank=True, default="")
    metadata = _metadata_field()


class PayoutListCreateApi(IdempotentApiView[dict[str, Any]]):
    pagination_class = CursorListPagination

    @extend_schema(operation_id="payout_create", request=PayoutCreateInputSerializer, responses={200: PayoutSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Pays out of the available balance, never more than it (``insufficient_funds``)."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        return _validated(PayoutCreateInputSerializer, request)

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        payout = payout_create(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            amount=data["amount"],
            currency=data["currency"],
            description=data["description"],
            metadata=data["metadata"],
        )
        return Response(payout_representation(payout))

    @extend_schema(operation_id="payout_list", responses={200: PayoutSerializer(many=True)})
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        payouts = selectors.payout_list(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            status=status if status in PayoutStatus.values else None,
        )
        return _page(self, request, payouts, lambda page: PayoutSerializer(page, many=True).data)


class PayoutRetrieveApi(APIView):
    @extend_schema(operation_id="payout_retrieve", responses={200: PayoutSerializer})
    def get(self, request: Request, payout_id: str) -> Response:
        payout = selectors.payout_get(
            merchant=request_merchant(request), livemode=request_api_key(request).livemode, payout_id=payout_id
        )
        return Response(payout_representation(payout))


class PayoutCancelApi(IdempotentApiView[None]):
    @extend_schema(operation_id="payout_cancel", request=None, responses={200: PayoutSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> None:
        return None

    def perform_post(self, request: Request, data: None, **kwargs: Any) -> Response:
        payout = payout_cancel(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            payout_id=kwargs["payout_id"],
        )
        return Response(payout_representation(payout))
