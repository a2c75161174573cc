from django.urls import path

from payments.api.payments import (
    PaymentCancelApi,
    PaymentCaptureApi,
    PaymentConfirmApi,
    PaymentListCreateApi,
    PaymentRetrieveApi,
)
from payments.api.views import MerchantRetrieveApi

urlpatterns = [
    path("merchant", MerchantRetrieveApi.as_view(), name="merchant-retrieve"),
    path("payments", PaymentListCreateApi.as_view(), name="payment-list"),
    path("payments/<str:payment_id>", PaymentRetrieveApi.as_view(), name="payment-retrieve"),
    path("payments/<str:payment_id>/confirm", PaymentConfirmApi.as_view(), name="payment-confirm"),
    path("payments/<str:payment_id>/capture", PaymentCaptureApi.as_view(), name="payment-capture"),
    path("payments/<str:payment_id>/cancel", PaymentCancelApi.as_view(), name="payment-cancel"),
]
