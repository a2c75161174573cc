from django.urls import path

from stripe_api.views.customers import (
    CustomerDetailApi,
    CustomerListCreateApi,
    CustomerPaymentMethodListApi,
    PaymentMethodAttachApi,
    PaymentMethodDetachApi,
    PaymentMethodDetailApi,
    PaymentMethodListCreateApi,
)
from stripe_api.views.payment_intents import (
    PaymentIntentCancelApi,
    PaymentIntentCaptureApi,
    PaymentIntentConfirmApi,
    PaymentIntentDetailApi,
    PaymentIntentListCreateApi,
)
from stripe_api.views.refunds import RefundDetailApi, RefundListCreateApi

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

urlpatterns += [
    path("refunds", RefundListCreateApi.as_view(), name="stripe-refunds"),
    path("refunds/<str:refund_id>", RefundDetailApi.as_view(), name="stripe-refund"),
    path("customers", CustomerListCreateApi.as_view(), name="stripe-customers"),
    path("customers/<str:customer_id>", CustomerDetailApi.as_view(), name="stripe-customer"),
    path(
        "customers/<str:customer_id>/payment_methods",
        CustomerPaymentMethodListApi.as_view(),
        name="stripe-customer-payment-methods",
    ),
    path("payment_methods", PaymentMethodListCreateApi.as_view(), name="stripe-payment-methods"),
    path("payment_methods/<str:payment_method_id>", PaymentMethodDetailApi.as_view(), name="stripe-payment-method"),
    path(
        "payment_methods/<str:payment_method_id>/attach",
        PaymentMethodAttachApi.as_view(),
        name="stripe-payment-method-attach",
    ),
    path(
        "payment_methods/<str:payment_method_id>/detach",
        PaymentMethodDetachApi.as_view(),
        name="stripe-payment-method-detach",
    ),
]
