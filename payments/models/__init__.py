"""The payments app's models, one module per concept; import them from here."""

from payments.models.events import Event, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookSecret
from payments.models.execution import MerchantPricing, ProviderEvent
from payments.models.idempotency import IdempotencyKey
from payments.models.merchants import ApiKey, Merchant
from payments.models.outbox import OutboxMessage
from payments.models.payments import Payment, PaymentAttempt, PaymentStateChange

__all__ = [
    "ApiKey",
    "Event",
    "IdempotencyKey",
    "Merchant",
    "MerchantPricing",
    "OutboxMessage",
    "Payment",
    "PaymentAttempt",
    "PaymentStateChange",
    "ProviderEvent",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WebhookSecret",
]
