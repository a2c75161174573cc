"""Payments: the only write path.

Every function that changes a payment runs one transaction: lock the payment row, call its django-fsm transition
(declared on ``Payment``), save, append a ``PaymentStateChange`` and write the outbox rows (the merchant event,
with the payment's API representation as payload, and any command for the executor). Nothing here calls a
provider: ``confirm``, ``capture`` and ``cancel`` persist a ``PaymentAttempt`` and an outbox command
``payments.execute_attempt``; the relay hands it to Celery after commit.

The ``payment_mark_*`` functions are the executor's: it applies a provider outcome holding the payment and its
attempts locked (``payment_lock_with_attempts``) and passes those objects down, so a transition never loads or locks
a row again. ``payment_expire`` is the periodic sweep's; it takes an id. Both trust their caller, where the API's
functions scope by merchant and mode.
An illegal transition raises ``PaymentStateError`` (400 ``payment_unexpected_state``), never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import transaction
from django.db.models import Model, Subquery
from django.db.models.functions import Now
from django.utils import timezone
from django_fsm import can_proceed

from core.currencies import currency_exponent, is_currency
from core.db import insert_together, new_row
from core.logging import current_request_id
from payments.connectors.base import CardSummary, RawCard
from payments.enums import (
    AttemptOperation,
    CancellationReason,
    CaptureMethod,
    PaymentEventType,
    PaymentMethodType,
    PaymentStatus,
    UpiFlow,
)
from payments.exceptions import InvalidRequestError, PaymentStateError, ResourceMissingError
from payments.models import (
    Customer,
    Merchant,
    OutboxMessage,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentStateChange,
)
from payments.representations import payment_representation
from payments.services.attempts.queue import attempt_start
from payments.services.checkout_completion import checkout_session_payment_succeeded
from payments.services.outbox import outbox_event_build, outbox_messages_add
from payments.services.payment_methods import payment_method_card_build, payment_method_test_get_or_create
from payments.upi import UPI_EXPIRES_IN_DEFAULT, UPI_EXPIRES_IN_MAX, UPI_EXPIRES_IN_MIN

AUTHORIZATION_VALIDITY = timedelta(days=7)  # the card networks release an uncaptured hold after about a week
MAX_AMOUNT = 99_999_999_999
# Smallest charge per currency (below it card fees exceed the amount); others: half a major unit, at least 1.
_MINIMUM_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30, "inr": 100, "jpy": 50, "krw": 500, "chf": 50, "hkd": 400}


@dataclass(frozen=True)
class CardPaymentMethod:
    card: CardSummary
    # An inline card: sealed into the vault, as a new payment method, in the payment's own transaction.
    raw: RawCard | None = None
    # A saved payment method (``pm_…``), resolved and checked by the caller.
    saved: PaymentMethod | None = None
    # A Stripe test payment method's name (``pm_card_visa`` …, with ``raw`` its test card): charged as the merchant's
    # one payment method of that name, unless it is being saved to a customer (then a new one, as an inline card).
    test_alias: str = ""


@dataclass(frozen=True)
class UpiPaymentMethod:
    flow: str = UpiFlow.INTENT
    vpa: str = ""
    expires_in: int = UPI_EXPIRES_IN_DEFAULT
    saved: PaymentMethod | None = None


PaymentMethodInput = CardPaymentMethod | UpiPaymentMethod


# --- validation, shared by the API edge (before any work) and the services (always) ---------------------------
def payment_minimum_amount(currency: str) -> int:
    default = max(1, int(10 ** currency_exponent(currency)) // 2)
    return _MINIMUM_AMOUNTS.get(currency, default)


def payment_amount_validate(*, amount: int, currency: str) -> str:
    """An amount a payment may be asked for (a payment, a checkout session); returns the normalised currency."""
    currency = currency.lower()
    if not is_currency(currency):
        raise InvalidRequestError(
            f"Unsupported currency: {currency[:10]!r}.", code="currency_invalid", param="currency"
        )
    minimum = payment_minimum_amount(currency)
    if amount < minimum:
        raise InvalidRequestError(
            f"Amount must be at least {minimum} (minor units of {currency}).", code="amount_too_small", param="amount"
        )
    if amount > MAX_AMOUNT:
        raise InvalidRequestError(f"Amount must be at most {MAX_AMOUNT}.", code="amount_too_large", param="amount")
    return currency


def payment_create_validate(
    *,
    merchant: Merchant,
    amount: int,
    currency: str,
    payment_method: PaymentMethodInput,
    capture_method: str = CaptureMethod.AUTOMATIC,
    customer: Customer | None = None,
    setup_future_usage: str = "",
    off_session: bool = False,
    confirm: bool = False,
) -> str:
    """Checks what needs no database; returns the normalised currency. Raises ``InvalidRequestError``."""
    _usage_validate(payment_method, customer, setup_future_usage, off_session, confirm)
    currency = payment_amount_validate(amount=amount, currency=currency)
    if isinstance(payment_method, UpiPaymentMethod):
        if capture_method == CaptureMethod.MANUAL:
            raise InvalidRequestError("UPI payments are captured automatically.", param="capture_method")
        if currency != "inr":
            raise InvalidRequestError("UPI payments are in inr.", code="currency_invalid", param="currency")
        if payment_method.flow == UpiFlow.COLLECT and not merchant.upi_collect_enabled:
            raise InvalidRequestError(
                "UPI collect is not enabled for this account; use the intent flow.",
                code="upi_collect_not_allowed",
                param="payment_method[upi][flow]",
            )
        if payment_method.flow == UpiFlow.COLLECT and not payment_method.vpa:
            raise InvalidRequestError(
                "A collect request needs the payer's UPI id.",
                code="parameter_missing",
                param="payment_method[upi][vpa]",
            )
        if not UPI_EXPIRES_IN_MIN <= payment_method.expires_in <= UPI_EXPIRES_IN_MAX:
            raise InvalidRequestError(
                f"expires_in must be between {UPI_EXPIRES_IN_MIN} and {UPI_EXPIRES_IN_MAX} seconds.",
                code="parameter_invalid",
                param="payment_method[upi][expires_in]",
            )
    return currency


def _usage_validate(
    payment_method: PaymentMethodInput,
    customer: Customer | None,
    setup_future_usage: str,
    off_session: bool,
    confirm: bool,
) -> None:
    saved = payment_method.saved
    if saved is not None and saved.detached_at is not None:
        raise InvalidRequestError(
            "This payment method was detached and cannot be used again.",
            code="payment_method_unexpected_state",
            param="payment_method",
        )
    if saved is not None and saved.customer_id is not None and (customer is None or customer.id != saved.customer_id):
        raise InvalidRequestError(
            "This payment method belongs to a customer: pass that customer with it.",
            code="payment_method_customer_mismatch",
            param="customer",
        )
    if setup_future_usage and customer is None:
        raise InvalidRequestError(
            "Saving a payment method for later needs a customer to save it to.",
            code="parameter_missing",
            param="customer",
        )
    if off_session:
        if saved is None or saved.customer_id is None:
            raise InvalidRequestError(
                "An off-session payment charges a payment method saved to the customer (a pm_ id).",
                code="parameter_invalid",
                param="payment_method",
            )
        if not confirm:
            raise InvalidRequestError(
                "An off-session payment is confirmed when it is created (confirm: true).",
                code="parameter_invalid",
                param="confirm",
            )


# --- the API's operations -------------------------------------------------------------------------------------
def payment_create(
    *,
    merchant: Merchant,
    livemode: bool,
    amount: int,
    currency: str,
    payment_method: PaymentMethodInput,
    capture_method: str = CaptureMethod.AUTOMATIC,
    confirm: bool = False,
    description: str = "",
    metadata: dict[str, str] | None = None,
    customer_email: str = "",
    customer: Customer | None = None,
    setup_future_usage: str = "",
    off_session: bool = False,
) -> Payment:
    """Creates a payment in ``requires_confirmation``; with ``confirm`` it is confirmed in the same transaction.

    An inline card becomes a payment method (its number sealed in the vault) in the same transaction, saved to
    ``customer`` when ``setup_future_usage`` asks for it. Nothing here calls a provider."""
    currency = payment_create_validate(
        merchant=merchant,
        amount=amount,
        currency=currency,
        payment_method=payment_method,
        capture_method=capture_method,
        customer=customer,
        setup_future_usage=setup_future_usage,
        off_session=off_session,
        confirm=confirm,
    )
    payment = new_row(
        Payment,
        merchant=merchant,
        livemode=livemode,
        amount=amount,
        currency=currency,
        capture_method=capture_method,
        description=description,
        metadata=metadata or {},
        customer_email=customer_email or (customer.email if customer is not None else ""),
        customer=customer,
        setup_future_usage=setup_future_usage,
        off_session=off_session,
    )
    vaulted = None
    test_alias = ""
    if isinstance(payment_method, CardPaymentMethod):
        card = payment_method.card
        payment.payment_method_type = PaymentMethodType.CARD
        payment.card_brand, payment.card_last4, payment.card_fingerprint = card.brand, card.last4, card.fingerprint
        payment.card_exp_month, payment.card_exp_year = card.exp_month, card.exp_year
        payment.payment_method = payment_method.saved
        if payment_method.test_alias and not setup_future_usage:
            test_alias = payment_method.test_alias
        elif payment_method.saved is None and payment_method.raw is not None:
            vaulted = payment_method_card_build(
                merchant_id=merchant.id,
                livemode=livemode,
                card=card,
                raw=payment_method.raw,
                customer=customer if setup_future_usage else None,
            )
            payment.payment_method = vaulted[1]
    else:
        payment.payment_method_type = PaymentMethodType.UPI
        payment.upi_flow, payment.upi_vpa = payment_method.flow, payment_method.vpa
        payment.upi_expires_in = payment_method.expires_in
        payment.payment_method = payment_method.saved
    attach = payment_method.saved if setup_future_usage else None
    if attach is not None and attach.customer_id is None:
        attach.customer = customer  # a saved, unattached method given with setup_future_usage: saved to the customer
    else:
        attach = None

    # No savepoint of its own: called through the idempotency layer, its work already runs in one (rolled back
    # as a whole on error); called alone, this is the transaction. A savepoint here was two round trips for nothing.
    with transaction.atomic(savepoint=False):
        # The new rows go in together (``insert_together``: one statement on PostgreSQL), the outbox rows after
        # them: their payload is the payment's representation, which shows what the database filled in (created).
        rows: list[Model] = list(vaulted) if vaulted is not None else []
        if test_alias:
            stand_in = payment_method_test_get_or_create(
                merchant_id=merchant.id, name=test_alias, today=timezone.now().date()
            )
            if stand_in is None:
                raise ResourceMissingError(f"No such payment method: '{test_alias[:64]}'.", param="payment_method")
            payment.payment_method = stand_in
            payment.card_exp_month, payment.card_exp_year = stand_in.card_exp_month, stand_in.card_exp_year
        if attach is not None:
            attach.save(update_fields=["customer"])
        if not confirm:
            rows += [payment, _history_row(payment, from_status="", transition="create")]
            insert_together(rows)
            payment.known_attempts = []
            return payment
        payment.confirm()
        rows.append(payment)
        # The attempt's command and the event go in one insert, after the rows they name.
        outbox: list[OutboxMessage] = []
        attempt = attempt_start(
            payment=payment, operation=AttemptOperation.AUTHORIZE, amount=payment.amount, outbox=outbox, rows=rows
        )
        rows += [
            _history_row(payment, from_status="", to_status=PaymentStatus.REQUIRES_CONFIRMATION, transition="create"),
            _history_row(payment, from_status=PaymentStatus.REQUIRES_CONFIRMATION, transition="confirm"),
        ]
        insert_together(rows)
        outbox += _event_rows(payment, [PaymentEventType.PROCESSING], attempts=[attempt])
        outbox_messages_add(outbox)
    return payment


def payment_confirm(*, merchant: Merchant, livemode: bool, payment_id: str) -> Payment:
    """Hands the payment to the executor (an outbox command) and returns it ``processing`` at once."""
    with transaction.atomic():
        payment = _lock(payment_id, merchant=merchant, livemode=livemode)
        from_status = _apply(payment, "confirm")
        payment.save()
        attempt_start(payment=payment, operation=AttemptOperation.AUTHORIZE, amount=payment.amount)
        _history(payment, from_status=from_status, transition="confirm")
        _events(payment, [PaymentEventType.PROCESSING], attempts=_attempts(payment))
    return payment


def payment_capture(
    *, merchant: Merchant, livemode: bool, payment_id: str, amount_to_capture: int | None = None
) -> Payment:
    """Captures an authorization, all of it or part of it once (the rest is released). The provider's capture
    call is the executor's: the attempt and its command commit with the new status."""
    with transaction.atomic():
        payment = _lock(payment_id, merchant=merchant, livemode=livemode)
        amount = payment.amount if amount_to_capture is None else amount_to_capture
        if payment.status == PaymentStatus.REQUIRES_CAPTURE and not 0 < amount <= payment.amount:
            raise InvalidRequestError(
                f"amount_to_capture must be between 1 and the authorized {payment.amount}.",
                code="amount_too_large" if amount > payment.amount else "parameter_invalid",
                param="amount_to_capture",
            )
        from_status = _apply(payment, "capture", amount=amount)
        payment.save()
        attempt_start(payment=payment, operation=AttemptOperation.CAPTURE, amount=amount)
        _history(payment, from_status=from_status, transition="capture")
        _events(payment, [PaymentEventType.CAPTURED, PaymentEventType.SUCCEEDED], attempts=_attempts(payment))
    return payment


def payment_cancel(*, merchant: Merchant, livemode: bool, payment_id: str, reason: str = "") -> Payment:
    with transaction.atomic():
        payment = _lock(payment_id, merchant=merchant, livemode=livemode)
        return _cancel(payment, reason=reason)


def payment_update(
    *,
    merchant: Merchant,
    livemode: bool,
    payment_id: str,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    customer_email: str | None = None,
) -> Payment:
    """Changes what describes a payment, never what it charges: ``metadata`` is merged (a key set to "" is removed,
    Stripe's semantics), ``description`` and ``customer_email`` replaced. No status changes, so no event."""
    with transaction.atomic():
        payment = _lock(payment_id, merchant=merchant, livemode=livemode)
        fields = ["updated"]
        if description is not None:
            payment.description, fields = description, [*fields, "description"]
        if customer_email is not None:
            payment.customer_email, fields = customer_email, [*fields, "customer_email"]
        if metadata is not None:
            merged = {k: v for k, v in {**payment.metadata, **metadata}.items() if v != ""}
            if len(merged) > 50:
                raise InvalidRequestError("At most 50 metadata keys.", param="metadata")
            payment.metadata, fields = merged, [*fields, "metadata"]
        payment.updated = _db_now(payment)
        payment.save(update_fields=fields)
    return payment


# --- the executor's transitions: the caller holds the payment (and its attempts) locked ----------------------
def payment_lock_with_attempts(
    *, payment_id: str | None = None, attempt_id: str | None = None, annotate: dict[str, Any] | None = None
) -> Payment | None:
    """Locks a payment (given, or the one that owns ``attempt_id``), then every attempt of it, in the order every
    payment service locks (payment, then attempts by id), with the database's clock. ``payment.known_attempts``
    holds the locked attempts, so the rest of the transaction reads and changes these objects, never the rows.
    ``annotate`` adds what the caller will need to the same statement."""
    key = (
        payment_id
        if payment_id is not None
        else Subquery(PaymentAttempt.objects.filter(pk=attempt_id).values("payment_id")[:1])
    )
    payment = (
        Payment.objects.select_for_update(of=("self",))
        .annotate(db_now=Now(), **(annotate or {}))
        .filter(pk=key)
        .first()
    )
    if payment is None:
        return None
    locked = list(PaymentAttempt.objects.select_for_update().filter(payment=payment).order_by("id"))
    for attempt in locked:
        attempt.payment = payment
    payment.known_attempts = locked
    return payment


def payment_mark_requires_action(
    *, payment: Payment, attempt: PaymentAttempt | None, next_action: dict[str, Any]
) -> None:
    """The provider waits for the payer (UPI approval, 3-D Secure); a UPI payment's expiry clock starts now."""
    from_status = _apply(payment, "mark_requires_action", next_action=next_action)
    if payment.upi_expires_in:
        payment.expires_at = _db_now(payment) + timedelta(seconds=payment.upi_expires_in)
    _save_transition(payment, from_status, "mark_requires_action", PaymentEventType.REQUIRES_ACTION, attempt)


def payment_mark_requires_capture(*, payment: Payment, attempt: PaymentAttempt | None) -> None:
    """Authorized, waiting for the merchant's capture (manual capture) before ``capture_before``."""
    from_status = _apply(payment, "mark_requires_capture")
    payment.capture_before = _db_now(payment) + AUTHORIZATION_VALIDITY
    _save_transition(payment, from_status, "mark_requires_capture", PaymentEventType.REQUIRES_CAPTURE, attempt)


def payment_mark_succeeded(*, payment: Payment, attempt: PaymentAttempt | None, upi_rrn: str = "") -> None:
    """Authorized and captured in full (automatic capture)."""
    from_status = _apply(payment, "mark_succeeded")
    if upi_rrn:
        payment.upi_rrn = upi_rrn
    _save_transition(payment, from_status, "mark_succeeded", PaymentEventType.SUCCEEDED, attempt)
    checkout_session_payment_succeeded(payment=payment, at=_db_now(payment))


def payment_record_late_success(*, payment: Payment, attempt: PaymentAttempt, upi_rrn: str = "") -> None:
    """The provider took the money after the payment failed on our side and the merchant's policy refunds it: the
    payment stays failed, shows what was captured, and tells the merchant (``payment.late_succeeded``). The caller
    starts the refund in the same transaction."""
    from_status = _apply(payment, "record_late_success", at=_db_now(payment))
    payment.upi_rrn = payment.upi_rrn or upi_rrn
    _save_transition(payment, from_status, "record_late_success", PaymentEventType.LATE_SUCCEEDED, attempt)


def payment_succeed_late(*, payment: Payment, attempt: PaymentAttempt, upi_rrn: str = "") -> None:
    """The provider took the money after the payment failed on our side and the merchant's policy keeps it
    (``fulfil``): the payment succeeds, late (``late_succeeded_at``), with ``payment.succeeded``."""
    from_status = _apply(payment, "succeed_late", at=_db_now(payment))
    payment.upi_rrn = payment.upi_rrn or upi_rrn
    _save_transition(payment, from_status, "succeed_late", PaymentEventType.SUCCEEDED, attempt)
    checkout_session_payment_succeeded(payment=payment, at=_db_now(payment))


def payment_mark_failed(*, payment: Payment, attempt: PaymentAttempt | None, code: str, message: str) -> None:
    """The provider declined or the attempt failed for good (never for an unknown outcome: resolve that first)."""
    from_status = _apply(payment, "mark_failed", code=code, message=message)
    _save_transition(payment, from_status, "mark_failed", PaymentEventType.FAILED, attempt)


def payment_expire(*, payment_id: str) -> Payment:
    """Ends a payment whose wait is over, by the database's clock: an unapproved UPI payment fails
    (``payment_expired``); an authorization not captured in time is canceled and voided at the provider."""
    with transaction.atomic():
        payment = _lock(payment_id)
        now = _db_now(payment)
        if payment.status == PaymentStatus.REQUIRES_ACTION and payment.expires_at and payment.expires_at <= now:
            from_status = _apply(payment, "expire")
            return _save_transition(payment, from_status, "expire", PaymentEventType.FAILED, None)
        if (
            payment.status == PaymentStatus.REQUIRES_CAPTURE
            and payment.capture_before
            and payment.capture_before <= now
        ):
            return _cancel(payment, reason=CancellationReason.AUTHORIZATION_EXPIRED, transition="expire")
        raise PaymentStateError(f"Payment {payment.id} ({payment.status}) has not expired.")


def payment_ids_overdue(*, limit: int = 500) -> list[str]:
    """Payments whose wait is over (served by two small partial indexes)."""
    waiting = Payment.objects.filter(status=PaymentStatus.REQUIRES_ACTION, expires_at__lte=Now())
    authorized = Payment.objects.filter(status=PaymentStatus.REQUIRES_CAPTURE, capture_before__lte=Now())
    ids = list(waiting.values_list("id", flat=True)[:limit])
    return ids + list(authorized.values_list("id", flat=True)[: max(0, limit - len(ids))])


# --- the pieces every transition is made of -------------------------------------------------------------------
def _lock(payment_id: str, *, merchant: Merchant | None = None, livemode: bool = False) -> Payment:
    """Locks the payment (scoped to the merchant and mode when given) and reads the database's clock with it."""
    queryset = Payment.objects.select_for_update().annotate(db_now=Now()).filter(pk=payment_id)
    if merchant is not None:
        queryset = queryset.filter(merchant=merchant, livemode=livemode)
    payment = queryset.first()
    if payment is None:
        raise ResourceMissingError(f"No such payment: '{payment_id[:64]}'.")
    return payment


def _db_now(payment: Payment) -> datetime:
    return cast(datetime, payment.db_now)  # type: ignore[attr-defined]  # annotated by _lock


_VERBS = {
    "confirm": "confirm",
    "capture": "capture",
    "cancel": "cancel",
    "expire": "expire",
}


def _apply(payment: Payment, transition: str, **kwargs: Any) -> str:
    method = getattr(payment, transition)
    if not can_proceed(method):
        verb = _VERBS.get(transition, transition.removeprefix("mark_").replace("_", " "))
        raise PaymentStateError(
            f"You cannot {verb} this payment because it has a status of {payment.status}.", param="status"
        )
    from_status = str(payment.status)
    method(**kwargs)
    payment.updated = _db_now(payment)
    return from_status


def _cancel(payment: Payment, *, reason: str, transition: str = "cancel") -> Payment:
    from_status = _apply(payment, "cancel", reason=reason)
    payment.save()
    if from_status != PaymentStatus.REQUIRES_CONFIRMATION:
        # The provider holds an authorization or a pending request: the executor releases it.
        attempt_start(payment=payment, operation=AttemptOperation.VOID, amount=payment.amount)
    _history(payment, from_status=from_status, transition=transition)
    _events(payment, [PaymentEventType.CANCELED], attempts=_attempts(payment))
    return payment


def _save_transition(
    payment: Payment, from_status: str, transition: str, event: str, attempt: PaymentAttempt | None
) -> Payment:
    if attempt is not None and attempt.connector:
        payment.psp = attempt.connector
    payment.save()
    _history(payment, from_status=from_status, transition=transition, attempt=attempt)
    _events(payment, [event], attempts=_attempts(payment))
    return payment


def _attempts(payment: Payment) -> list[PaymentAttempt]:
    """The attempts as the caller holds them (locked, perhaps changed and not saved yet), else as stored."""
    if payment.known_attempts is not None:
        return payment.known_attempts
    return list(payment.attempts.all())


def _history_row(
    payment: Payment,
    *,
    from_status: str,
    transition: str,
    to_status: str | None = None,
    attempt: PaymentAttempt | None = None,
) -> PaymentStateChange:
    return new_row(
        PaymentStateChange,
        payment=payment,
        merchant_id=payment.merchant_id,
        from_status=from_status,
        to_status=to_status or payment.status,
        transition=transition,
        attempt=attempt,
        request_id=(current_request_id() or "")[:100],
    )


def _history(payment: Payment, *, from_status: str, transition: str, attempt: PaymentAttempt | None = None) -> None:
    _history_row(payment, from_status=from_status, transition=transition, attempt=attempt).save(force_insert=True)


def _events(payment: Payment, events: Sequence[str], *, attempts: list[PaymentAttempt]) -> None:
    outbox_messages_add(_event_rows(payment, events, attempts=attempts))


def _event_rows(payment: Payment, events: Sequence[str], *, attempts: list[PaymentAttempt]) -> list[OutboxMessage]:
    """The events' outbox rows, unsaved. The representation is built once, here, for every event and for the
    response (``payment.known_representation``)."""
    payment.known_attempts = attempts
    payload = payment_representation(payment, attempts=attempts)
    payment.known_representation = payload
    return [
        outbox_event_build(
            merchant_id=payment.merchant_id,
            livemode=payment.livemode,
            event_type=event,
            aggregate_type="payment",
            aggregate_id=payment.id,
            payload=payload,
        )
        for event in events
    ]
