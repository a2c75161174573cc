"""The payments app's models, one module per concept; import them from here."""

from payments.models.checkout import CheckoutSession
from payments.models.customers import Customer, PaymentMethod
from payments.models.disputes import Dispute, EvidenceFile
from payments.models.events import Event, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookSecret
from payments.models.idempotency import IdempotencyKey
from payments.models.merchants import ApiKey, Merchant
from payments.models.outbox import OutboxMessage
from payments.models.payments import Payment, PaymentAttempt, PaymentStateChange
from payments.models.pricing import MerchantPricing
from payments.models.provider_events import ProviderEvent
from payments.models.refunds import Payout, Refund
from payments.models.vault import CardVaultEntry

__all__ = [
    "ApiKey",
    "CardVaultEntry",
    "CheckoutSession",
    "Customer",
    "Dispute",
    "Event",
    "EvidenceFile",
    "IdempotencyKey",
    "Merchant",
    "MerchantPricing",
    "OutboxMessage",
    "Payment",
    "PaymentAttempt",
    "PaymentMethod",
    "PaymentStateChange",
    "Payout",
    "ProviderEvent",
    "Refund",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WebhookSecret",
]
