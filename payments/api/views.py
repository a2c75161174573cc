from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.strict import ApiView
from payments.api.authentication import request_merchant
from payments.models import Merchant


class MerchantOutputSerializer(serializers.Serializer[Merchant]):
    id = serializers.CharField()
    object = serializers.SerializerMethodField()
    name = serializers.CharField()
    email = serializers.EmailField()
    created = serializers.DateTimeField()
    livemode = serializers.SerializerMethodField()

    def get_object(self, obj: Merchant) -> str:
        return "merchant"

    def get_livemode(self, obj: Merchant) -> bool:
        return bool(self.context["request"].auth.livemode)


class MerchantRetrieveApi(ApiView):
    """The merchant the API key belongs to: the simplest way to check a key works."""

    @extend_schema(responses=MerchantOutputSerializer, operation_id="merchant_retrieve")
    def get(self, request: Request) -> Response:
        return Response(MerchantOutputSerializer(request_merchant(request), context={"request": request}).data)
