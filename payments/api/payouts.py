"""``/v1/payouts``: paying out of the available balance, listing, retrieving and canceling payouts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import CursorListPagination
from core.api.strict import ApiView, InputSerializer
from payments import selectors
from payments.api.authentication import request_api_key, request_merchant
from payments.api.common import list_response, metadata_field
from payments.api.idempotency import IdempotentApiView
from payments.api.payments import _validated
from payments.enums import PayoutStatus
from payments.representations import PayoutSerializer, payout_representation
from payments.services.payouts import payout_cancel, payout_create


class PayoutCreateInputSerializer(InputSerializer):
    amount = serializers.IntegerField(min_value=1)
    currency = serializers.CharField(min_length=3, max_length=3)
    description = serializers.CharField(max_length=500, allow_blank=True, default="")
    metadata = metadata_field()


class PayoutListCreateApi(IdempotentApiView[dict[str, Any]]):
    input_serializer = PayoutCreateInputSerializer
    query_parameters = frozenset({"status"})
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
        return list_response(self, request, payouts, lambda page: PayoutSerializer(page, many=True).data)


class PayoutRetrieveApi(ApiView):
    @extend_schema(operation_id="payout_retrieve", responses={200: PayoutSerializer})
    def get(self, request: Request, payout_id: str) -> Response:
        payout = selectors.payout_get(
            merchant=request_merchant(request), livemode=request_api_key(request).livemode, payout_id=payout_id
        )
        return Response(payout_representation(payout))


class PayoutCancelApi(IdempotentApiView[None]):
    input_serializer = None

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
