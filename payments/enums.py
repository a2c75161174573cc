from django.db import models


class OutboxKind(models.TextChoices):
    EVENT = "event", "Event"  # becomes a merchant-visible Event (evt_…) and its webhook deliveries
    COMMAND = "command", "Command"  # an internal follow-up (execute an attempt, a refund, a payout): a Celery task


class PaymentStatus(models.TextChoices):
    REQUIRES_CONFIRMATION = "requires_confirmation", "Requires confirmation"
    PROCESSING = "processing", "Processing"
    REQUIRES_ACTION = "requires_action", "Requires action"
    REQUIRES_CAPTURE = "requires_capture", "Requires capture"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class CheckoutSessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETE = "complete", "Complete"
    EXPIRED = "expired", "Expired"


class CaptureMethod(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic"
    MANUAL = "manual", "Manual"


class PaymentMethodType(models.TextChoices):
    CARD = "card", "Card"
    UPI = "upi", "UPI"


class UpiFlow(models.TextChoices):
    INTENT = "intent", "Intent / QR"
    COLLECT = "collect", "Collect"


class SetupFutureUsage(models.TextChoices):
    ON_SESSION = "on_session", "On session (the customer present)"
    OFF_SESSION = "off_session", "Off session (merchant-initiated)"


class CardBrand(models.TextChoices):
    VISA = "visa", "Visa"
    MASTERCARD = "mastercard", "Mastercard"
    AMEX = "amex", "American Express"
    DISCOVER = "discover", "Discover"
    DINERS = "diners", "Diners Club"
    JCB = "jcb", "JCB"
    UNIONPAY = "unionpay", "UnionPay"
    RUPAY = "rupay", "RuPay"


class AttemptOperation(models.TextChoices):
    AUTHORIZE = "authorize", "Authorize (and capture, when automatic)"
    CAPTURE = "capture", "Capture"
    VOID = "void", "Void an authorization"
    REFUND = "refund", "Refund"


class AttemptOutcome(models.TextChoices):
    PENDING = "pending", "Pending"  # persisted, not yet sent (or sent and still running)
    UNKNOWN = "unknown", "Unknown"  # timeout or 5xx: resolved by a status lookup, never assumed failed
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class CancellationReason(models.TextChoices):
    REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by customer"
    DUPLICATE = "duplicate", "Duplicate"
    FRAUDULENT = "fraudulent", "Fraudulent"
    ABANDONED = "abandoned", "Abandoned"
    AUTHORIZATION_EXPIRED = "authorization_expired", "Authorization expired before capture"


class IdempotencyStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class PaymentEventType(models.TextChoices):
    """The merchant-visible events a payment's transitions write to the outbox."""

    PROCESSING = "payment.processing"
    REQUIRES_ACTION = "payment.requires_action"
    REQUIRES_CAPTURE = "payment.requires_capture"
    SUCCEEDED = "payment.succeeded"
    CAPTURED = "payment.captured"
    FAILED = "payment.failed"
    CANCELED = "payment.canceled"
    LATE_SUCCEEDED = "payment.late_succeeded"


class LateSuccessPolicy(models.TextChoices):
    """What happens to money a provider reports received after the payment expired or failed on our side."""

    REFUND = "refund", "Refund it automatically"
    FULFIL = "fulfil", "Keep it and fulfil (flagged for the merchant)"


# --- Events and webhooks ---------------------------------------------------------------------------------------
class EventType(models.TextChoices):
    """The merchant-visible event types of the contract; endpoints subscribe to these (or to ``*``)."""

    PAYMENT_PROCESSING = "payment.processing"
    PAYMENT_REQUIRES_ACTION = "payment.requires_action"
    PAYMENT_REQUIRES_CAPTURE = "payment.requires_capture"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELED = "payment.canceled"
    PAYMENT_CAPTURED = "payment.captured"
    # The provider took the payer's money after the payment failed on our side; a refund of it follows (the merchant's
    # late-success policy ``refund``; with ``fulfil`` the payment succeeds instead, with ``payment.succeeded``).
    PAYMENT_LATE_SUCCEEDED = "payment.late_succeeded"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    DISPUTE_CREATED = "dispute.created"
    DISPUTE_CLOSED = "dispute.closed"
    # The provider refused the merchant's evidence (late by its clock, malformed): the dispute needs a response again.
    DISPUTE_EVIDENCE_REFUSED = "dispute.evidence_refused"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_FAILED = "payout.failed"
    CHECKOUT_SESSION_COMPLETED = "checkout.session.completed"


class WebhookEndpointFormat(models.TextChoices):
    """The shape an endpoint's deliveries take: the platform's events, or Stripe's (endpoints created through the
    Stripe-compatible API, so a merchant's Stripe webhook handler works unchanged)."""

    LEDGERLINE = "ledgerline", "Ledgerline"
    STRIPE = "stripe", "Stripe"


class WebhookEndpointStatus(models.TextChoices):
    ENABLED = "enabled", "Enabled"
    DISABLED = "disabled", "Disabled"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # not delivered yet; attempts continue until success or the retry window ends
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # given up: the retry window ended or the endpoint was disabled


# --- Refunds, payouts, disputes (issue 7) ----------------------------------------------------------------------
class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class RefundReason(models.TextChoices):
    DUPLICATE = "duplicate", "Duplicate"
    FRAUDULENT = "fraudulent", "Fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by the customer"
    LATE_SUCCESS = "late_success", "Money received after the payment failed (UPI late success)"


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_TRANSIT = "in_transit", "In transit"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class DisputeStatus(models.TextChoices):
    NEEDS_RESPONSE = "needs_response", "Needs response"
    UNDER_REVIEW = "under_review", "Under review"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    ACCEPTED = "accepted", "Accepted (merchant gave up)"
