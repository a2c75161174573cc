"""Checkout sessions: create, expire, and pay one from the hosted page (``payments.checkout_page``).

The page's payments are made by the payment services like any other (a card goes into the vault as a payment
method, the executor calls the provider after commit). What this module adds is the session's guarantee: it is
paid once. Paying locks the session row; a submission carrying the key of the latest attempt, or arriving while
that attempt's payment is still in flight, answers that payment instead of making a new one. Only after a payment
failed (or was canceled) does a new key make a new payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import transaction
from django.db.models.functions import Now

from payments.enums import CheckoutSessionStatus, PaymentMethodType, PaymentStatus
from payments.exceptions import CheckoutSessionStateError, InvalidRequestError, ResourceMissingError
from payments.models import CheckoutSession, Customer, Merchant, Payment
from payments.services.checkout_completion import checkout_payment_description
from payments.services.payments import (
    CardPaymentMethod,
    PaymentMethodInput,
    UpiPaymentMethod,
    payment_amount_validate,
    payment_create,
)
from payments.upi import UPI_EXPIRES_IN_MAX, UPI_EXPIRES_IN_MIN

CHECKOUT_EXPIRES_IN_DEFAULT = 24 * 3600
CHECKOUT_EXPIRES_IN_MIN = 30 * 60
CHECKOUT_EXPIRES_IN_MAX = 24 * 3600
CHECKOUT_METHODS = (PaymentMethodType.CARD, PaymentMethodType.UPI)
# A payment in these states may still take the payer's money: the session makes no other payment meanwhile.
IN_FLIGHT = frozenset(
    {
        PaymentStatus.REQUIRES_CONFIRMATION,
        PaymentStatus.PROCESSING,
        PaymentStatus.REQUIRES_ACTION,
        PaymentStatus.REQUIRES_CAPTURE,
        PaymentStatus.SUCCEEDED,
    }
)


def checkout_session_create_validate(
    *, amount: int, currency: str, payment_methods: list[str], expires_in: int
) -> tuple[str, list[str]]:
    """Checks what needs no database; returns the normalised currency and methods. Raises ``InvalidRequestError``."""
    currency = payment_amount_validate(amount=amount, currency=currency)
    methods = list(dict.fromkeys(payment_methods))
    if not methods:
        raise InvalidRequestError("Give at least one payment method.", param="payment_methods")
    if PaymentMethodType.UPI in methods and currency != "inr":
        raise InvalidRequestError("UPI payments are in inr.", code="currency_invalid", param="payment_methods")
    if not CHECKOUT_EXPIRES_IN_MIN <= expires_in <= CHECKOUT_EXPIRES_IN_MAX:
        raise InvalidRequestError(
            f"expires_in must be between {CHECKOUT_EXPIRES_IN_MIN} and {CHECKOUT_EXPIRES_IN_MAX} seconds.",
            param="expires_in",
        )
    return currency, methods


def checkout_session_create(
    *,
    merchant: Merchant,
    livemode: bool,
    amount: int,
    currency: str,
    success_url: str,
    cancel_url: str,
    payment_methods: list[str],
    customer: Customer | None = None,
    customer_email: str = "",
    metadata: dict[str, str] | None = None,
    expires_in: int = CHECKOUT_EXPIRES_IN_DEFAULT,
) -> CheckoutSession:
    currency, methods = checkout_session_create_validate(
        amount=amount, currency=currency, payment_methods=payment_methods, expires_in=expires_in
    )
    session = CheckoutSession(
        merchant=merchant,
        livemode=livemode,
        amount=amount,
        currency=currency,
        success_url=success_url,
        cancel_url=cancel_url,
        payment_methods=methods,
        customer=customer,
        customer_email=customer_email or (customer.email if customer is not None else ""),
        metadata=metadata or {},
        expires_at=Now() + timedelta(seconds=expires_in),
    )
    session.save(force_insert=True)
    session.refresh_from_db(fields=["expires_at", "created"])
    return session


def _locked(session_id: str, **scope: Any) -> CheckoutSession:
    # The session's row alone: a join here would be re-checked after the lock wait against the statement's old
    # snapshot, where the payment a concurrent submission just made does not exist yet (read as "no payment").
    # The payment is read after the lock, by a statement of its own that sees what was committed before it.
    session = CheckoutSession.objects.select_for_update().annotate(db_now=Now()).filter(pk=session_id, **scope).first()
    if session is None:
        raise ResourceMissingError(f"No such checkout session: '{session_id[:64]}'.")
    if session.payment_id is not None:
        session.payment = Payment.objects.get(pk=session.payment_id)
    return session


def _db_now(session: CheckoutSession) -> datetime:
    return cast(datetime, session.db_now)  # type: ignore[attr-defined]  # annotated by _locked


def _in_flight(session: CheckoutSession) -> bool:
    return session.payment is not None and session.payment.status in IN_FLIGHT


def checkout_session_expire(*, merchant: Merchant, livemode: bool, session_id: str) -> CheckoutSession:
    """``POST …/expire``: the merchant closes an open session (not while a payment of it is in flight)."""
    with transaction.atomic():
        session = _locked(session_id, merchant=merchant, livemode=livemode)
        if session.status != CheckoutSessionStatus.OPEN:
            raise CheckoutSessionStateError(
                f"You cannot expire this checkout session because it has a status of {session.status}."
            )
        if _in_flight(session):
            raise CheckoutSessionStateError("A payment of this checkout session is in progress; try again later.")
        session.expire()
        session.save(update_fields=["status"])
    return session


def checkout_session_expire_if_due(*, session_id: str) -> CheckoutSession:
    """Expires the session if its time is up and no payment of it is in flight; returns it either way."""
    with transaction.atomic():
        session = _locked(session_id)
        if _due(session):
            session.expire()
            session.save(update_fields=["status"])
    return session


def _due(session: CheckoutSession) -> bool:
    return (
        session.status == CheckoutSessionStatus.OPEN
        and session.expires_at <= _db_now(session)
        and not _in_flight(session)
    )


def checkout_session_ids_overdue(*, limit: int = 500) -> list[str]:
    return list(
        CheckoutSession.objects.filter(status=CheckoutSessionStatus.OPEN, expires_at__lte=Now()).values_list(
            "id", flat=True
        )[:limit]
    )


@dataclass(frozen=True)
class CheckoutPayResult:
    session: CheckoutSession
    payment: Payment | None
    # False when the submission answered an existing payment (a double submit, a second tab) or none at all.
    created: bool


def checkout_session_pay(*, session_id: str, attempt_key: str, payment_method: PaymentMethodInput) -> CheckoutPayResult:
    """The page's submission: makes the session's next payment (confirmed: the executor takes it from here), or
    answers the one already made for this attempt or still in flight. A closed session makes nothing."""
    with transaction.atomic():
        session = _locked(session_id)
        if _due(session):
            session.expire()
            session.save(update_fields=["status"])
        if session.status != CheckoutSessionStatus.OPEN:
            return CheckoutPayResult(session=session, payment=session.payment, created=False)
        if session.payment is not None and (attempt_key == session.attempt_key or _in_flight(session)):
            return CheckoutPayResult(session=session, payment=session.payment, created=False)
        kind = PaymentMethodType.CARD if isinstance(payment_method, CardPaymentMethod) else PaymentMethodType.UPI
        if kind not in session.payment_methods:
            raise InvalidRequestError("This payment method is not offered for this payment.", param="payment_method")
        if isinstance(payment_method, UpiPaymentMethod):
            # The payer's approval window ends with the session where it can (the provider allows 5 to 15 minutes).
            left = int((session.expires_at - _db_now(session)).total_seconds())
            expires_in = max(UPI_EXPIRES_IN_MIN, min(UPI_EXPIRES_IN_MAX, left))
            payment_method = UpiPaymentMethod(flow=payment_method.flow, vpa=payment_method.vpa, expires_in=expires_in)
        payment = payment_create(
            merchant=session.merchant,
            livemode=session.livemode,
            amount=session.amount,
            currency=session.currency,
            payment_method=payment_method,
            confirm=True,
            description=checkout_payment_description(session.id),
            customer=session.customer,
            customer_email=session.customer_email,
        )
        session.payment = payment
        session.attempt_count += 1
        session.attempt_key = attempt_key
        session.save(update_fields=["payment", "attempt_count", "attempt_key"])
    return CheckoutPayResult(session=session, payment=payment, created=True)
