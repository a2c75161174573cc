"""``/v1/refunds``: create, list and retrieve refunds; thin views over the refund service and selectors."""

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
from payments.enums import RefundReason
from payments.representations import RefundSerializer, refund_representation
from payments.services.refunds import refund_create


class RefundCreateInputSerializer(InputSerializer):
    payment = serializers.CharField(max_length=40)
    amount = serializers.IntegerField(required=False, min_value=1, help_text="default: what is left to refund")
    # No default: "" is not one of the reasons (a default outside the enum made generated clients drop the call).
    reason = serializers.ChoiceField(choices=RefundReason.choices, required=False)
    metadata = metadata_field()


class RefundListCreateApi(IdempotentApiView[dict[str, Any]]):
    input_serializer = RefundCreateInputSerializer
    query_parameters = frozenset({"payment"})
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
            reason=data.get("reason", ""),
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
        return list_response(self, request, refunds, lambda page: RefundSerializer(page, many=True).data)


class RefundRetrieveApi(ApiView):
    @extend_schema(operation_id="refund_retrieve", responses={200: RefundSerializer})
    def get(self, request: Request, refund_id: str) -> Response:
        refund = selectors.refund_get(
            merchant=request_merchant(request), livemode=request_api_key(request).livemode, refund_id=refund_id
        )
        return Response(refund_representation(refund))
