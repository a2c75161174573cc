"""Payouts: the merchant's available balance going to its bank.

``payout_create`` posts ``payout_created`` in the transaction that creates the payout: the ledger locks the
merchant's available account and refuses to take it below zero (``insufficient_funds``), so concurrent payouts never
overdraw, and a merchant whose available balance is negative (money it owes after refunds or disputes) or whose money
is still pending is paid nothing: a payout never exceeds what the merchant has earned net of refunds, disputes and
fees (docs/balances.md). The bank side is simulated: ``payouts_advance_due`` (beat) hands pending payouts to the
"bank" and marks them paid after ``PAYOUT_TRANSIT_SECONDS``. A payout that fails, or that the bank returns after
``paid``, becomes ``failed`` and the reversal gives its amount back to the available balance.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone
from django_fsm import can_proceed

from core.currencies import is_currency
from ledger import recipes as ledger_recipes
from ledger.exceptions import InsufficientFundsError
from ledger.money import Money
from payments.enums import EventType, PayoutStatus
from payments.exceptions import InvalidRequestError, PaymentStateError, ResourceMissingError
from payments.models import Merchant, Payout
from payments.representations import payout_representation
from payments.services.outbox import outbox_object_event_add


def _event(payout: Payout, event_type: str) -> None:
    outbox_object_event_add(
        obj=payout, event_type=event_type, aggregate_type="payout", payload=payout_representation(payout)
    )


def payout_create(
    *,
    merchant: Merchant,
    livemode: bool,
    amount: int,
    currency: str,
    description: str = "",
    metadata: dict[str, str] | None = None,
    requested_by: str = "api",
) -> Payout:
    currency = currency.lower()
    if not is_currency(currency):
        raise InvalidRequestError(
            f"Unsupported currency: {currency[:10]!r}.", code="currency_invalid", param="currency"
        )
    if amount <= 0:
        raise InvalidRequestError("Amount must be a positive integer.", param="amount")
    with transaction.atomic():
        payout = Payout.objects.create(
            merchant=merchant,
            livemode=livemode,
            amount=amount,
            currency=currency,
            description=description,
            metadata=metadata or {},
            requested_by=requested_by[:150],
        )
        try:
            # The ledger locks the available account and refuses to take it below zero.
            ledger_recipes.payout_created(
                merchant_id=merchant.id, payout_id=payout.id, amount=Money(amount, currency), occurred_at=timezone.now()
            )
        except InsufficientFundsError as refused:
            raise InvalidRequestError(
                f"Your available {currency.upper()} balance ({refused.balance}) does not cover a payout of {amount}.",
                code="insufficient_funds",
                param="amount",
            ) from None
    return payout


def _lock(payout_id: str) -> Payout:
    payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
    if payout is None:
        raise ResourceMissingError(f"No such payout: '{payout_id[:64]}'.")
    return payout


def payout_send(*, payout_id: str) -> Payout:
    with transaction.atomic():
        payout = _lock(payout_id)
        if not can_proceed(payout.send):
            return payout  # canceled or failed meanwhile
        payout.send()
        payout.arrival_date = timezone.now() + timedelta(seconds=settings.PAYOUT_TRANSIT_SECONDS)
        payout.updated = timezone.now()
        payout.save()
    return payout


def payout_mark_paid(*, payout_id: str) -> Payout:
    with transaction.atomic():
        payout = _lock(payout_id)
        if not can_proceed(payout.mark_paid):
            return payout
        payout.mark_paid()
        payout.updated = timezone.now()
        payout.save()
        _event(payout, EventType.PAYOUT_PAID)
    return payout


def payout_fail(*, payout_id: str, code: str) -> Payout:
    """The bank refused or returned it (also after ``paid``): failed, and the amount is available again."""
    with transaction.atomic():
        payout = _lock(payout_id)
        if payout.status not in (PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT, PayoutStatus.PAID):
            raise PaymentStateError(f"You cannot fail a payout that is {payout.status}.", param="status")
        payout.mark_failed(code=code)
        payout.updated = timezone.now()
        payout.save()
        ledger_recipes.payout_failed(payout_id=payout.id, occurred_at=timezone.now())
        _event(payout, EventType.PAYOUT_FAILED)
    return payout


def payout_cancel(*, merchant: Merchant, livemode: bool, payout_id: str) -> Payout:
    with transaction.atomic():
        payout = _lock(payout_id)
        if payout.merchant_id != merchant.id or payout.livemode != livemode:
            raise ResourceMissingError(f"No such payout: '{payout_id[:64]}'.")
        if payout.status != PayoutStatus.PENDING:
            raise PaymentStateError(f"You cannot cancel a payout that is {payout.status}.", param="status")
        payout.cancel()
        payout.updated = timezone.now()
        payout.save()
        ledger_recipes.payout_failed(payout_id=payout.id, occurred_at=timezone.now())
    return payout


def payouts_advance_due(*, limit: int = 500) -> dict[str, int]:
    """The simulated bank (beat): pending → in_transit at once, in_transit → paid once ``arrival_date`` passed."""
    sent = paid = 0
    for payout_id in Payout.objects.filter(status=PayoutStatus.PENDING).values_list("id", flat=True)[:limit]:
        payout_send(payout_id=payout_id)
        sent += 1
    due = Payout.objects.filter(status=PayoutStatus.IN_TRANSIT, arrival_date__lte=Now()).values_list("id", flat=True)
    for payout_id in due[:limit]:
        payout_mark_paid(payout_id=payout_id)
        paid += 1
    return {"sent": sent, "paid": paid}
