from django.urls import path

from stripe_api.views.payment_intents import (
    PaymentIntentCancelApi,
    PaymentIntentCaptureApi,
    PaymentIntentConfirmApi,
    PaymentIntentDetailApi,
    PaymentIntentListCreateApi,
)

urlpatterns = [
    path("payment_intents", PaymentIntentListCreateApi.as_view(), name="stripe-payment-intents"),
    path("payment_intents/<str:payment_intent_id>", PaymentIntentDetailApi.as_view(), name="stripe-payment-intent"),
    path(
        "payment_intents/<str:payment_intent_id>/confirm",
        PaymentIntentConfirmApi.as_view(),
        name="stripe-payment-intent-confirm",
    ),
    path(
        "payment_intents/<str:payment_intent_id>/capture",
        PaymentIntentCaptureApi.as_view(),
        name="stripe-payment-intent-capture",
    ),
    path(
        "payment_intents/<str:payment_intent_id>/cancel",
        PaymentIntentCancelApi.as_view(),
        name="stripe-payment-intent-cancel",
    ),
]
