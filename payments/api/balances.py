"""``GET /v1/balance`` and ``GET /v1/balance_transactions``: the merchant's money, read from the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import CursorListPagination
from core.api.strict import ApiView
from ledger.models import JournalTransaction
from payments import selectors
from payments.api.authentication import request_merchant
from payments.api.common import list_response


class _MoneySerializer(serializers.Serializer[Any]):
    amount = serializers.IntegerField()
    currency = serializers.CharField()


class BalanceSerializer(serializers.Serializer[Any]):
    object = serializers.CharField()
    available = _MoneySerializer(many=True)
    pending = _MoneySerializer(many=True)


class BalanceRetrieveApi(ApiView):
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


class BalanceTransactionListApi(ApiView):
    pagination_class = CursorListPagination

    @extend_schema(operation_id="balance_transaction_list", responses={200: BalanceTransactionSerializer(many=True)})
    def get(self, request: Request) -> Response:
        txns = selectors.balance_transaction_list(merchant=request_merchant(request))
        now = timezone.now()
        return list_response(
            self,
            request,
            txns,
            lambda page: (
                BalanceTransactionSerializer(
                    [balance_transaction_representation(t, now=now) for t in page], many=True
                ).data
            ),
        )
