"""``/v1/disputes``: list, retrieve, update (evidence, submit) and accept."""

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
from payments.api.common import list_response
from payments.api.idempotency import IdempotentApiView
from payments.api.payments import _validated
from payments.enums import DisputeStatus
from payments.representations import DisputeSerializer, dispute_representation
from payments.services.disputes import EVIDENCE_TEXT_FIELDS, dispute_accept, dispute_update


class _EvidenceInput(InputSerializer):
    files = serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=20)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        for name in EVIDENCE_TEXT_FIELDS:
            fields[name] = serializers.CharField(max_length=20_000, required=False, allow_blank=True)
        return fields


class DisputeUpdateInputSerializer(InputSerializer):
    evidence = _EvidenceInput(required=False)
    submit = serializers.BooleanField(default=False)


class DisputeListApi(ApiView):
    query_parameters = frozenset({"status"})
    pagination_class = CursorListPagination

    @extend_schema(operation_id="dispute_list", responses={200: DisputeSerializer(many=True)})
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        disputes = selectors.dispute_list(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            status=status if status in DisputeStatus.values else None,
        )
        return list_response(self, request, disputes, lambda page: DisputeSerializer(page, many=True).data)


class DisputeRetrieveUpdateApi(IdempotentApiView[dict[str, Any]]):
    input_serializer = DisputeUpdateInputSerializer

    @extend_schema(operation_id="dispute_retrieve", responses={200: DisputeSerializer})
    def get(self, request: Request, dispute_id: str) -> Response:
        dispute = selectors.dispute_get(
            merchant=request_merchant(request), livemode=request_api_key(request).livemode, dispute_id=dispute_id
        )
        return Response(dispute_representation(dispute))

    @extend_schema(
        operation_id="dispute_update", request=DisputeUpdateInputSerializer, responses={200: DisputeSerializer}
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Stages evidence; ``submit: true`` sends it to the provider (once) and moves the dispute to under_review."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        return _validated(DisputeUpdateInputSerializer, request)

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        dispute = dispute_update(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            dispute_id=kwargs["dispute_id"],
            evidence=data.get("evidence"),
            submit=data["submit"],
        )
        return Response(dispute_representation(dispute))


class DisputeAcceptApi(IdempotentApiView[None]):
    input_serializer = None

    @extend_schema(operation_id="dispute_accept", request=None, responses={200: DisputeSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Gives up the dispute: the chargeback stands."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> None:
        return None

    def perform_post(self, request: Request, data: None, **kwargs: Any) -> Response:
        dispute = dispute_accept(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            dispute_id=kwargs["dispute_id"],
        )
        return Response(dispute_representation(dispute))
