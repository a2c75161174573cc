"""Refunds: the only write path.

``refund_create`` locks the payment row (the object that carries the limit), checks the refundable amount and
reserves it (``payment.amount_refunded``) in the same transaction, posts the refund to the ledger (the merchant's
balance pays for it at once: available funds, then the payment's own pending funds, the rest owed; see
``payments.services.funds``) and commits an attempt plus its outbox command for the executor, which calls the
provider on its queue after commit. ``refund_attempt_apply`` is the executor's: the provider's answer, a status
lookup or a webhook moves the refund to ``succeeded`` or ``failed``; a failure, even after the provider accepted it,
releases the reservation and reverses the ledger posting (a new transaction), and emits ``refund.failed``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from payments.enums import AttemptOperation, DisputeStatus, EventType, PaymentStatus, RefundReason, RefundStatus
from payments.exceptions import (
    InvalidRequestError,
    PaymentStateError,
    RefundLimitExceededError,
    ResourceMissingError,
)
from payments.models import Merchant, Payment, PaymentAttempt, Refund
from payments.representations import refund_representation
from payments.selectors import refund_total_by_requester
from payments.services.attempts.queue import attempt_start
from payments.services.funds import funds_refund_failed_post, funds_refund_post
from payments.services.outbox import outbox_object_event_add


@dataclass(frozen=True, slots=True)
class RefundLimit:
    """A ceiling on what one kind of requester may refund of one payment in total (the back office's Support
    limit): every refund of the payment whose ``requested_by`` starts with ``requested_by_prefix`` and has not
    failed counts, and so does the one being asked for."""

    amount: int
    requested_by_prefix: str


def _refund_limit_check(*, payment: Payment, amount: int, limit: RefundLimit) -> None:
    """Called under the payment's row lock, so concurrent refunds of one payment see each other's rows."""
    refunded = refund_total_by_requester(payment_id=payment.id, requested_by_prefix=limit.requested_by_prefix)
    if refunded + amount > limit.amount:
        raise RefundLimitExceededError(limit=limit.amount, refunded=refunded, currency=payment.currency)


def _refund_event(refund: Refund, event_type: str) -> None:
    outbox_object_event_add(
        obj=refund, event_type=event_type, aggregate_type="refund", payload=refund_representation(refund)
    )


_OPEN_DISPUTE = (DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW)
_LOST_DISPUTE = (DisputeStatus.LOST, DisputeStatus.ACCEPTED)


def _refund_disputed_hold(payment: Payment) -> int:
    """What a dispute already took back from this payment, refusing a refund while one is open.

    The customer's bank returns a charged-back amount itself: refunding it as well pays the customer twice. While the
    dispute is open its outcome is unknown, so nothing is refunded (as Stripe's ``charge_disputed``); once it is lost
    or accepted, its amount is no longer refundable; a won dispute takes nothing.
    """
    if not payment.disputed:
        return 0
    disputes = list(payment.disputes.values_list("status", "amount"))
    if any(status in _OPEN_DISPUTE for status, _ in disputes):
        raise PaymentStateError(
            "This payment has an open dispute: it cannot be refunded until the dispute is closed.",
            code="charge_disputed",
            param="payment",
        )
    return sum(amount for status, amount in disputes if status in _LOST_DISPUTE)


def refund_create(
    *,
    merchant: Merchant,
    livemode: bool,
    payment_id: str,
    amount: int | None = None,
    reason: str = "",
    metadata: dict[str, str] | None = None,
    requested_by: str = "api",
    limit: RefundLimit | None = None,
) -> Refund:
    """Refunds ``amount`` (default: what is left) of a captured payment.

    The sum of a payment's refunds never exceeds ``amount_captured``, whatever the concurrency: the payment row is
    locked and the check, the reservation and the refund row commit together (and a check constraint on the payment
    backs it). ``limit`` is a caller's own ceiling on a running total (the back office's Support limit), checked under
    the same lock.
    """
    if amount is not None and amount <= 0:
        raise InvalidRequestError("Amount must be a positive integer.", code="parameter_invalid", param="amount")
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update()
            .filter(pk=payment_id, merchant=merchant, livemode=livemode)
            .annotate(db_now=Now())
            .first()
        )
        if payment is None:
            raise ResourceMissingError(f"No such payment: '{payment_id[:64]}'.", param="payment")
        # A payment that failed on our side but whose money the provider took late (UPI) is refundable too: that is
        # how its automatic refund is retried when it failed.
        captured = payment.status == PaymentStatus.SUCCEEDED or payment.late_succeeded_at is not None
        if not captured or payment.amount_captured == 0:
            raise PaymentStateError(
                f"You cannot refund this payment because it has a status of {payment.status}.", param="payment"
            )
        refundable = payment.amount_captured - payment.amount_refunded - _refund_disputed_hold(payment)
        amount = refundable if amount is None else amount
        if refundable <= 0:
            raise InvalidRequestError(
                "This payment has already been refunded in full.", code="charge_already_refunded", param="payment"
            )
        if amount <= 0 or amount > refundable:
            raise InvalidRequestError(
                f"Refund amount ({amount}) is greater than the payment's refundable amount ({refundable}).",
                code="amount_exceeds_refundable",
                param="amount",
            )
        if limit is not None:
            _refund_limit_check(payment=payment, amount=amount, limit=limit)
        payment.updated = payment.db_now  # annotated above
        return _refund_open(
            payment=payment,
            amount=amount,
            reason=reason,
            metadata=metadata or {},
            requested_by=requested_by,
            connector=None,
        )


def refund_late_success_open(*, payment: Payment, connector: str) -> Refund:
    """The automatic refund of a late success (the merchant's policy ``refund``): a refund like any other, visible
    to the merchant with its events, sent through the connector that took the money. The executor's, under the
    payment's lock, right after the late success is recorded."""
    return _refund_open(
        payment=payment,
        amount=payment.amount_captured - payment.amount_refunded,
        reason=RefundReason.LATE_SUCCESS,
        metadata={},
        requested_by=LATE_SUCCESS_REQUESTER,
        connector=connector,
    )


LATE_SUCCESS_REQUESTER = "platform:late_success"


def _refund_open(
    *,
    payment: Payment,
    amount: int,
    reason: str,
    metadata: dict[str, str],
    requested_by: str,
    connector: str | None,
) -> Refund:
    """Reserves ``amount`` on the locked payment, creates the refund and its attempt, and posts it to the ledger."""
    payment.amount_refunded += amount
    Payment.objects.filter(pk=payment.pk).update(amount_refunded=payment.amount_refunded, updated=Now())
    refund = Refund.objects.create(
        merchant_id=payment.merchant_id,
        livemode=payment.livemode,
        payment=payment,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        metadata=metadata,
        requested_by=requested_by[:150],
    )
    attempt = attempt_start(
        payment=payment, operation=AttemptOperation.REFUND, amount=amount, refund=refund, connector=connector
    )
    # The merchant's balance pays for the refund now; a provider failure gives it back.
    funds_refund_post(
        payment=payment, refund_id=refund.id, connector=attempt.connector, amount=amount, occurred_at=timezone.now()
    )
    return refund


def refund_attempt_apply(
    *, payment: Payment, attempt: PaymentAttempt, succeeded: bool, failure_reason: str = ""
) -> str:
    """The executor's: the provider's final word on a merchant refund. Called under the payment's and the attempt's
    locks, inside the executor's transaction; idempotent (a refund already final is left alone)."""
    refund = Refund.objects.select_for_update().get(pk=attempt.refund_id)
    if refund.status != RefundStatus.PENDING:
        return f"refund_already_{refund.status}"
    refund.updated = timezone.now()
    if succeeded:
        refund.mark_succeeded()
        refund.save()
        _refund_event(refund, EventType.REFUND_SUCCEEDED)
        return "refund_succeeded"
    refund.mark_failed(reason=failure_reason or "provider_failed")
    refund.save()
    payment.amount_refunded -= refund.amount
    payment.save(update_fields=["amount_refunded"])
    funds_refund_failed_post(payment=payment, refund_id=refund.id, occurred_at=timezone.now())
    _refund_event(refund, EventType.REFUND_FAILED)
    if refund.reason == RefundReason.LATE_SUCCESS:
        # The payer's money is back with the merchant, who never asked for it: a person must see it through.
        attempt.review_reason = (
            f"automatic refund of a late success failed ({refund.failure_reason}): refund it again from the "
            "payment page, or contact the payer"
        )
    return "refund_failed"
