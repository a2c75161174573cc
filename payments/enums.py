from django.db import models


class OutboxKind(models.TextChoices):
    EVENT = "event", "Event"  # becomes a merchant-visible Event (evt_…) and its webhook deliveries
    COMMAND = "command", "Command"  # an internal follow-up (execute an attempt, a refund, a payout): a Celery task


# --- Events and webhooks ---------------------------------------------------------------------------------------
class EventType(models.TextChoices):
    """The merchant-visible event types of the contract; endpoints subscribe to these (or to ``*``)."""

    PAYMENT_PROCESSING = "payment.processing"
    PAYMENT_REQUIRES_ACTION = "payment.requires_action"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELED = "payment.canceled"
    PAYMENT_CAPTURED = "payment.captured"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    DISPUTE_CREATED = "dispute.created"
    DISPUTE_CLOSED = "dispute.closed"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_FAILED = "payout.failed"
    CHECKOUT_SESSION_COMPLETED = "checkout.session.completed"


class WebhookEndpointStatus(models.TextChoices):
    ENABLED = "enabled", "Enabled"
    DISABLED = "disabled", "Disabled"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # not delivered yet; attempts continue until success or the retry window ends
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # given up: the retry window ended or the endpoint was disabled
