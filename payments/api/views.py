from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.strict import InputSerializer
from payments.api.authentication import request_merchant
from payments.api.idempotency import IdempotentApiView
from payments.api.payments import _validated
from payments.enums import LateSuccessPolicy
from payments.models import Merchant
from payments.services.merchants import merchant_settings_update


class MerchantOutputSerializer(serializers.Serializer[Merchant]):
    id = serializers.CharField()
    object = serializers.SerializerMethodField()
    name = serializers.CharField()
    email = serializers.EmailField()
    created = serializers.DateTimeField()
    livemode = serializers.SerializerMethodField()
    upi_collect_enabled = serializers.BooleanField()
    upi_late_success_policy = serializers.ChoiceField(choices=LateSuccessPolicy.choices)

    def get_object(self, obj: Merchant) -> str:
        return "merchant"

    def get_livemode(self, obj: Merchant) -> bool:
        return bool(self.context["request"].auth.livemode)


class MerchantUpdateInputSerializer(InputSerializer):
    upi_late_success_policy = serializers.ChoiceField(choices=LateSuccessPolicy.choices, required=False)


class MerchantRetrieveApi(IdempotentApiView[dict[str, Any]]):
    """The merchant the API key belongs to (the simplest way to check a key works), and its own settings."""

    input_serializer = MerchantUpdateInputSerializer

    @extend_schema(responses=MerchantOutputSerializer, operation_id="merchant_retrieve")
    def get(self, request: Request) -> Response:
        return Response(MerchantOutputSerializer(request_merchant(request), context={"request": request}).data)

    @extend_schema(
        request=MerchantUpdateInputSerializer, responses=MerchantOutputSerializer, operation_id="merchant_update"
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Changes the merchant's settings: ``upi_late_success_policy`` (``refund`` or ``fulfil``)."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        return _validated(MerchantUpdateInputSerializer, request)

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        merchant = merchant_settings_update(
            merchant=request_merchant(request), upi_late_success_policy=data.get("upi_late_success_policy")
        )
        return Response(MerchantOutputSerializer(merchant, context={"request": request}).data)
