"""A checkout session completes when its payment succeeds: called by the payment services' success transitions.

Kept apart from ``payments.services.checkout`` (which creates payments through ``payments.services.payments``) so
the payment services can call it without an import cycle.
"""

from __future__ import annotations

from datetime import datetime

from payments.enums import CheckoutSessionStatus, EventType
from payments.models import CheckoutSession, Payment
from payments.representations import checkout_session_representation
from payments.services.outbox import outbox_event_add

# The description of every payment a checkout page makes: the success transitions look for a session only then.
_DESCRIPTION = "Checkout "


def checkout_payment_description(session_id: str) -> str:
    return f"{_DESCRIPTION}{session_id}"


def checkout_session_payment_succeeded(*, payment: Payment, at: datetime) -> CheckoutSession | None:
    """Completes the session whose payment this is, once (``checkout.session.completed``). The caller holds the
    payment locked inside its transaction; the session is locked after it (the order every checkout write keeps)."""
    if not payment.description.startswith(f"{_DESCRIPTION}cs_"):
        return None  # not a checkout payment: no query on the executor's hot path
    session = CheckoutSession.objects.select_for_update().filter(payment=payment).first()
    if session is None or session.status == CheckoutSessionStatus.COMPLETE:
        return session
    session.complete(payment=payment, at=at)
    session.save(update_fields=["status", "payment", "completed_at"])
    outbox_event_add(
        merchant_id=session.merchant_id,
        livemode=session.livemode,
        event_type=EventType.CHECKOUT_SESSION_COMPLETED,
        aggregate_type="checkout_session",
        aggregate_id=session.id,
        payload=checkout_session_representation(session),
    )
    return session
