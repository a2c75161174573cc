from django.urls import path

from stripe_api.views.balance import (
    BalanceApi,
    BalanceTransactionListApi,
    DisputeCloseApi,
    DisputeDetailApi,
    DisputeListApi,
    PayoutCancelApi,
    PayoutDetailApi,
    PayoutListCreateApi,
)
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
from stripe_api.views.webhooks import (
    EventDetailApi,
    EventListApi,
    WebhookEndpointDetailApi,
    WebhookEndpointListCreateApi,
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

urlpatterns += [
    path("balance", BalanceApi.as_view(), name="stripe-balance"),
    path("balance_transactions", BalanceTransactionListApi.as_view(), name="stripe-balance-transactions"),
    path("payouts", PayoutListCreateApi.as_view(), name="stripe-payouts"),
    path("payouts/<str:payout_id>", PayoutDetailApi.as_view(), name="stripe-payout"),
    path("payouts/<str:payout_id>/cancel", PayoutCancelApi.as_view(), name="stripe-payout-cancel"),
    path("disputes", DisputeListApi.as_view(), name="stripe-disputes"),
    path("disputes/<str:dispute_id>", DisputeDetailApi.as_view(), name="stripe-dispute"),
    path("disputes/<str:dispute_id>/close", DisputeCloseApi.as_view(), name="stripe-dispute-close"),
    path("events", EventListApi.as_view(), name="stripe-events"),
    path("events/<str:event_id>", EventDetailApi.as_view(), name="stripe-event"),
    path("webhook_endpoints", WebhookEndpointListCreateApi.as_view(), name="stripe-webhook-endpoints"),
    path(
        "webhook_endpoints/<str:webhook_endpoint_id>",
        WebhookEndpointDetailApi.as_view(),
        name="stripe-webhook-endpoint",
    ),
]
