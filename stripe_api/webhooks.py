"""Stripe's events, from the platform's: for ``/stripe/v1/events`` and for deliveries to endpoints created through
``/stripe/v1/webhook_endpoints`` (``WebhookEndpoint.format == "stripe"``), signed in ``Stripe-Signature`` with the
same scheme, so ``stripe.Webhook.construct_event`` verifies them.

Each platform event type becomes one Stripe type; the ``data.object`` is the Stripe shape of the event's payload
(a PaymentIntent, a Refund, a Dispute, a Payout), or for ``charge.*`` events the Charge derived from the payment,
read when the event is rendered (so it shows the payment as it is then, not as it was when the event happened).
"""

from __future__ import annotations

from typing import Any

from payments import selectors
from payments.enums import EventType, WebhookEndpointFormat
from payments.exceptions import InvalidRequestError, ResourceMissingError
from payments.models import Event
from payments.representations import payment_representation
from payments.services.events import event_payload
from payments.services.webhook_formats import WebhookFormat, webhook_format_register
from stripe_api import objects

SIGNATURE_HEADER = "Stripe-Signature"

# The platform's event type -> Stripe's. One to one, so a subscription reads back as it was written.
EVENT_TYPES: dict[str, str] = {
    EventType.PAYMENT_PROCESSING: "payment_intent.processing",
    EventType.PAYMENT_REQUIRES_ACTION: "payment_intent.requires_action",
    EventType.PAYMENT_REQUIRES_CAPTURE: "payment_intent.amount_capturable_updated",
    EventType.PAYMENT_SUCCEEDED: "payment_intent.succeeded",
    EventType.PAYMENT_FAILED: "payment_intent.payment_failed",
    EventType.PAYMENT_CANCELED: "payment_intent.canceled",
    EventType.PAYMENT_CAPTURED: "charge.captured",
    EventType.REFUND_SUCCEEDED: "charge.refunded",
    EventType.REFUND_FAILED: "refund.failed",
    EventType.DISPUTE_CREATED: "charge.dispute.created",
    EventType.DISPUTE_CLOSED: "charge.dispute.closed",
    EventType.DISPUTE_EVIDENCE_REFUSED: "charge.dispute.updated",
    EventType.PAYOUT_PAID: "payout.paid",
    EventType.PAYOUT_FAILED: "payout.failed",
    EventType.CHECKOUT_SESSION_COMPLETED: "checkout.session.completed",
}
PLATFORM_TYPES: dict[str, str] = {stripe_type: ours for ours, stripe_type in EVENT_TYPES.items()}


def stripe_event_type(event_type: str) -> str:
    # A type Stripe has no name for (payment.late_succeeded) keeps the platform's: nothing pretends to be Stripe's.
    return EVENT_TYPES.get(event_type, event_type)


def platform_event_types(stripe_types: list[str], *, param: str = "enabled_events") -> list[str]:
    """Stripe event types (or ``*``) as the platform's; one the platform never sends is refused, naming it."""
    ours = []
    for name in stripe_types:
        if name == "*":
            ours.append("*")
        elif name in PLATFORM_TYPES:
            ours.append(PLATFORM_TYPES[name])
        elif name in EVENT_TYPES.values() or name in EventType.values:
            ours.append(name)
        else:
            raise InvalidRequestError(
                f"Ledgerline does not send {name[:100]!r} events; it sends: {', '.join(sorted(PLATFORM_TYPES))}.",
                code="parameter_invalid",
                param=param,
            )
    return ours


def _charge(event: Event, payment_id: str | None) -> dict[str, Any] | None:
    if not payment_id:
        return None
    try:
        payment = selectors.payment_get(merchant=event.merchant, livemode=event.livemode, payment_id=payment_id)
    except ResourceMissingError:
        return None
    return objects.charge(payment_representation(payment))


def stripe_data_object(event: Event) -> dict[str, Any]:
    payload: dict[str, Any] = dict((event.data or {}).get("object") or {})
    kind = payload.get("object")
    stripe_type = stripe_event_type(event.type)
    if stripe_type == "charge.refunded":
        charge = _charge(event, payload.get("payment"))
        if charge is not None:
            return {**charge, "refunds": objects.list_object([objects.refund(payload)], has_more=False, url="")}
    if stripe_type == "charge.captured" and kind == "payment":
        return objects.charge(payload)
    if kind == "payment":
        return objects.payment_intent(payload)
    if kind == "refund":
        return objects.refund(payload)
    if kind == "dispute":
        return objects.dispute(payload)
    if kind == "payout":
        return objects.payout(payload)
    return payload


def stripe_event(event: Event) -> dict[str, Any]:
    ours = event_payload(event)
    return {
        "id": event.id,
        "object": "event",
        "api_version": objects.API_VERSION,
        "created": objects.unix(event.created),
        "data": {"object": stripe_data_object(event)},
        "livemode": event.livemode,
        "pending_webhooks": int(getattr(event, "pending_webhooks", 0) or 0),
        "request": {"id": None, "idempotency_key": None},
        "type": stripe_event_type(str(ours["type"])),
    }


def stripe_webhook_format_register() -> None:
    webhook_format_register(
        WebhookEndpointFormat.STRIPE, WebhookFormat(render=stripe_event, signature_header=SIGNATURE_HEADER)
    )
