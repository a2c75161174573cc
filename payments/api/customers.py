"""``/v1/customers``: a merchant's customers (``cus_…``); thin views over the services and selectors."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import CursorListPagination
from core.api.strict import InputSerializer
from payments import selectors
from payments.api.authentication import request_api_key, request_merchant
from payments.api.common import list_response, metadata_field
from payments.api.idempotency import IdempotentApiView
from payments.api.payments import _validated
from payments.models import Customer
from payments.representations import CustomerSerializer, customer_representation
from payments.services.payment_methods import customer_create, customer_delete, customer_update


class CustomerCreateInputSerializer(InputSerializer):
    email = serializers.EmailField(allow_blank=True, required=False)
    name = serializers.CharField(max_length=200, allow_blank=True, default="")
    metadata = metadata_field()


class CustomerUpdateInputSerializer(InputSerializer):
    email = serializers.EmailField(allow_blank=True, required=False)
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    metadata = metadata_field()


def _customer(request: Request, customer_id: str) -> Customer:
    return selectors.customer_get(
        merchant=request_merchant(request), livemode=request_api_key(request).livemode, customer_id=customer_id
    )


class CustomerListCreateApi(IdempotentApiView[dict[str, Any]]):
    pagination_class = CursorListPagination
    input_serializer = CustomerCreateInputSerializer
    query_parameters = frozenset({"email"})

    @extend_schema(
        operation_id="customer_create", request=CustomerCreateInputSerializer, responses={200: CustomerSerializer}
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Creates a customer to save payment methods to."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        return _validated(CustomerCreateInputSerializer, request)

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        customer = customer_create(
            merchant=request_merchant(request), livemode=request_api_key(request).livemode, **data
        )
        return Response(customer_representation(customer))

    @extend_schema(operation_id="customer_list", responses={200: CustomerSerializer(many=True)})
    def get(self, request: Request) -> Response:
        customers = selectors.customer_list(
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            email=request.query_params.get("email"),
        )
        return list_response(self, request, customers, lambda page: CustomerSerializer(page, many=True).data)


class CustomerDetailApi(IdempotentApiView[dict[str, Any]]):
    input_serializer = CustomerUpdateInputSerializer

    @extend_schema(operation_id="customer_retrieve", responses={200: CustomerSerializer})
    def get(self, request: Request, customer_id: str) -> Response:
        return Response(customer_representation(_customer(request, customer_id)))

    @extend_schema(
        operation_id="customer_update", request=CustomerUpdateInputSerializer, responses={200: CustomerSerializer}
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Updates email, name; metadata keys are merged (a key set to "" is removed)."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        data = _validated(CustomerUpdateInputSerializer, request)
        if "metadata" not in request.data:
            data.pop("metadata", None)
        return data

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        customer = customer_update(customer=_customer(request, kwargs["customer_id"]), **data)
        return Response(customer_representation(customer))

    @extend_schema(operation_id="customer_delete", responses={200: None})
    def delete(self, request: Request, customer_id: str) -> Response:
        """Deletes the customer; its payment methods are detached and never charged again."""
        customer_delete(customer=_customer(request, customer_id))
        return Response({"id": customer_id, "object": "customer", "deleted": True})
