from django.urls import path

from payments.api.balances import BalanceRetrieveApi, BalanceTransactionListApi
from payments.api.checkout import (
    CheckoutSessionExpireApi,
    CheckoutSessionListCreateApi,
    CheckoutSessionRetrieveApi,
)
from payments.api.customers import CustomerDetailApi, CustomerListCreateApi
from payments.api.disputes import DisputeAcceptApi, DisputeListApi, DisputeRetrieveUpdateApi
from payments.api.events import EventListApi, EventRetrieveApi
from payments.api.payment_methods import (
    PaymentMethodAttachApi,
    PaymentMethodDetachApi,
    PaymentMethodListCreateApi,
    PaymentMethodRetrieveApi,
)
from payments.api.payments import (
    PaymentCancelApi,
    PaymentCaptureApi,
    PaymentConfirmApi,
    PaymentListCreateApi,
    PaymentRetrieveApi,
)
from payments.api.payouts import PayoutCancelApi, PayoutListCreateApi, PayoutRetrieveApi
from payments.api.refunds import RefundListCreateApi, RefundRetrieveApi
from payments.api.views import MerchantRetrieveApi
from payments.api.webhook_endpoints import (
    WebhookEndpointCollectionApi,
    WebhookEndpointDetailApi,
    WebhookEndpointRollSecretApi,
)

urlpatterns = [
    path("merchant", MerchantRetrieveApi.as_view(), name="merchant-retrieve"),
    path("payments", PaymentListCreateApi.as_view(), name="payment-list"),
    path("payments/<str:payment_id>", PaymentRetrieveApi.as_view(), name="payment-retrieve"),
    path("payments/<str:payment_id>/confirm", PaymentConfirmApi.as_view(), name="payment-confirm"),
    path("payments/<str:payment_id>/capture", PaymentCaptureApi.as_view(), name="payment-capture"),
    path("payments/<str:payment_id>/cancel", PaymentCancelApi.as_view(), name="payment-cancel"),
]

# --- Events and webhooks ---------------------------------------------------------------------------------------
urlpatterns += [
    path("events", EventListApi.as_view(), name="events-list"),
    path("events/<str:event_id>", EventRetrieveApi.as_view(), name="events-retrieve"),
    path("webhook_endpoints", WebhookEndpointCollectionApi.as_view(), name="webhook-endpoints"),
    path("webhook_endpoints/<str:endpoint_id>", WebhookEndpointDetailApi.as_view(), name="webhook-endpoints-detail"),
    path(
        "webhook_endpoints/<str:endpoint_id>/roll_secret",
        WebhookEndpointRollSecretApi.as_view(),
        name="webhook-endpoints-roll-secret",
    ),
]

# --- Refunds, balance, payouts (issue 7) ---------------------------------------------------------------------------
urlpatterns += [
    path("refunds", RefundListCreateApi.as_view(), name="refund-list"),
    path("refunds/<str:refund_id>", RefundRetrieveApi.as_view(), name="refund-retrieve"),
    path("balance", BalanceRetrieveApi.as_view(), name="balance-retrieve"),
    path("balance_transactions", BalanceTransactionListApi.as_view(), name="balance-transaction-list"),
    path("payouts", PayoutListCreateApi.as_view(), name="payout-list"),
    path("payouts/<str:payout_id>", PayoutRetrieveApi.as_view(), name="payout-retrieve"),
    path("payouts/<str:payout_id>/cancel", PayoutCancelApi.as_view(), name="payout-cancel"),
]
urlpatterns += [
    path("disputes", DisputeListApi.as_view(), name="dispute-list"),
    path("disputes/<str:dispute_id>", DisputeRetrieveUpdateApi.as_view(), name="dispute-retrieve"),
    path("disputes/<str:dispute_id>/accept", DisputeAcceptApi.as_view(), name="dispute-accept"),
]

# --- Customers and payment methods (issue 15) --------------------------------------------------------------------
urlpatterns += [
    path("customers", CustomerListCreateApi.as_view(), name="customer-list"),
    path("customers/<str:customer_id>", CustomerDetailApi.as_view(), name="customer-detail"),
    path("payment_methods", PaymentMethodListCreateApi.as_view(), name="payment-method-list"),
    path("payment_methods/<str:payment_method_id>", PaymentMethodRetrieveApi.as_view(), name="payment-method-retrieve"),
    path(
        "payment_methods/<str:payment_method_id>/attach", PaymentMethodAttachApi.as_view(), name="payment-method-attach"
    ),
    path(
        "payment_methods/<str:payment_method_id>/detach", PaymentMethodDetachApi.as_view(), name="payment-method-detach"
    ),
]

# --- Checkout sessions (issue 17): the hosted page itself is payments.checkout_page ---------------------------------
urlpatterns += [
    path("checkout/sessions", CheckoutSessionListCreateApi.as_view(), name="checkout-session-list"),
    path("checkout/sessions/<str:session_id>", CheckoutSessionRetrieveApi.as_view(), name="checkout-session-retrieve"),
    path(
        "checkout/sessions/<str:session_id>/expire", CheckoutSessionExpireApi.as_view(), name="checkout-session-expire"
    ),
]
