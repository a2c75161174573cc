"""The payments app's models, one module per concept; import them from here."""

from payments.models.events import Event, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookSecret
from payments.models.merchants import ApiKey, Merchant
from payments.models.outbox import OutboxMessage

__all__ = [
    "ApiKey",
    "Event",
    "Merchant",
    "OutboxMessage",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WebhookSecret",
]
