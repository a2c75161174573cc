"""The merchant's money: every posting that moves a merchant balance goes through here (docs/balances.md).

The rules, each enforced where the money moves:

* A capture puts the payment's net (gross less our fee) in the merchant's **pending** balance until the payment's
  ``funds_available_on``, fixed at capture. ``Payment.funds_pending`` keeps how much of it is still there.
* Refunds, dispute amounts and dispute fees are the merchant's: they come out of the **available** balance first,
  then out of that same payment's pending funds, and whatever is left makes the available balance negative — money
  the merchant owes, recovered from later releases. They never fail for want of funds and never touch another
  payment's pending funds, so pending never goes below zero (the database refuses it) and a release moves exactly
  what its payment still has there.
* The release moves ``funds_pending`` to available on ``funds_available_on``, once: money already given back is
  not released again.
* Money given back to the merchant (a refund that failed, a dispute won) comes back where it was taken from while
  the payment's funds are still pending; after their release, what came from pending comes back as available.
* Payouts never take the available balance below zero (``payments.services.payouts``), so a merchant that owes
  money, or whose money is still pending, is paid nothing.
* The platform absorbs a loss only through ``funds_write_off``: a person, a reason, an amount no larger than what
  is owed.

Every function here runs under the payment's row lock (the caller's transaction), which is what makes
``funds_pending`` exact.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.ids import new_id
from ledger import recipes as ledger_recipes
from ledger import references
from ledger.models import JournalTransaction
from ledger.money import Money
from ledger.recipes import MerchantDebit
from payments.models import Merchant, Payment


def funds_capture_post(
    *,
    payment: Payment,
    connector: str,
    gross: int,
    fee: int,
    occurred_at: datetime,
    provider_reference: str | None = None,
    provider_occurred_at: datetime | None = None,
    now: datetime | None = None,
    save: bool = True,
) -> JournalTransaction:
    """The provider captured ``gross``: the merchant's net goes to pending until the end of the pending period,
    counted from ``now`` (our clock, never the provider's; tests pass a controlled one). ``occurred_at`` is our
    clock too; the provider's own time (``provider_occurred_at``) is kept on the transaction as a fact, its skew
    flagged when large. Posting it again returns the first posting. ``save=False`` when the caller saves the
    payment itself (the executor, which holds it locked and writes it once)."""
    now = now or timezone.now()
    available_on = payment.funds_available_on or now + timedelta(seconds=settings.BALANCE_PENDING_SECONDS)
    txn = ledger_recipes.payment_captured(
        merchant_id=payment.merchant_id,
        connector=connector,
        payment_id=payment.id,
        gross=Money(gross, payment.currency),
        fee=Money(fee, payment.currency),
        occurred_at=occurred_at,
        available_on=available_on,
        provider_reference=provider_reference,
        provider_occurred_at=provider_occurred_at,
    )
    if payment.funds_available_on is None:
        payment.funds_pending = gross - fee
        payment.funds_available_on = txn.available_on or available_on
        if save:
            Payment.objects.filter(pk=payment.pk).update(
                funds_pending=payment.funds_pending, funds_available_on=payment.funds_available_on
            )
    return txn


def _draw(payment: Payment, debit: MerchantDebit) -> MerchantDebit:
    if debit.created and debit.from_pending:
        payment.funds_pending -= debit.from_pending
        Payment.objects.filter(pk=payment.pk).update(funds_pending=F("funds_pending") - debit.from_pending)
    return debit


def _pending_cap(payment: Payment) -> int:
    return payment.funds_pending if payment.funds_released_at is None else 0


def funds_refund_post(
    *,
    payment: Payment,
    refund_id: str,
    connector: str,
    amount: int,
    occurred_at: datetime,
    provider_reference: str | None = None,
    provider_occurred_at: datetime | None = None,
) -> MerchantDebit:
    """A refund of ``payment``: available first, then the payment's own pending funds, the rest owed."""
    return _draw(
        payment,
        ledger_recipes.refund_created(
            merchant_id=payment.merchant_id,
            connector=connector,
            refund_id=refund_id,
            payment_id=payment.id,
            amount=Money(amount, payment.currency),
            occurred_at=occurred_at,
            pending_cap=_pending_cap(payment),
            pending_available_on=payment.funds_available_on,
            provider_reference=provider_reference,
            provider_occurred_at=provider_occurred_at,
        ),
    )


def _given_back(payment: Payment, original: str, give_back: Callable[[bool], JournalTransaction]) -> JournalTransaction:
    """Gives the merchant back what ``original`` took, once; what it drew on the payment's pending funds goes back
    there if they are still pending."""
    restore = payment.funds_released_at is None
    if JournalTransaction.objects.filter(reverses__reference=original).exists():
        return give_back(restore)  # already given back: the ledger returns that posting
    txn = give_back(restore)
    drawn = int(JournalTransaction.objects.get(reference=original).metadata.get("from_pending", 0))
    if restore and drawn:
        payment.funds_pending += drawn
        Payment.objects.filter(pk=payment.pk).update(funds_pending=F("funds_pending") + drawn)
    return txn


def funds_refund_failed_post(*, payment: Payment, refund_id: str, occurred_at: datetime) -> JournalTransaction:
    """The provider did not refund: the merchant has the money back."""
    return _given_back(
        payment,
        references.refund(refund_id),
        lambda restore: ledger_recipes.refund_failed(
            refund_id=refund_id, occurred_at=occurred_at, restore_pending=restore
        ),
    )


def funds_chargeback_post(
    *,
    payment: Payment,
    dispute_id: str,
    connector: str,
    amount: int,
    fee: int,
    occurred_at: datetime,
    provider_reference: str | None = None,
    provider_occurred_at: datetime | None = None,
) -> MerchantDebit:
    """A chargeback on ``payment``: the amount and the dispute fee, drawn like a refund."""
    return _draw(
        payment,
        ledger_recipes.chargeback_opened(
            merchant_id=payment.merchant_id,
            connector=connector,
            dispute_id=dispute_id,
            payment_id=payment.id,
            amount=Money(amount, payment.currency),
            dispute_fee=Money(fee, payment.currency),
            occurred_at=occurred_at,
            pending_cap=_pending_cap(payment),
            pending_available_on=payment.funds_available_on,
            provider_reference=provider_reference,
            provider_occurred_at=provider_occurred_at,
        ),
    )


def funds_dispute_won_post(*, payment: Payment, dispute_id: str, occurred_at: datetime) -> JournalTransaction:
    """The merchant won: amount and fee back."""
    return _given_back(
        payment,
        references.dispute_opened(dispute_id),
        lambda restore: ledger_recipes.dispute_won(
            dispute_id=dispute_id, occurred_at=occurred_at, restore_pending=restore
        ),
    )


def funds_release_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Beat: moves each due payment's remaining pending funds to available, once. ``now`` is for tests and
    benchmarks that run a controlled clock. Returns how many payments were released."""
    now = now or timezone.now()
    due = list(
        Payment.objects.filter(funds_released_at__isnull=True, funds_available_on__lte=now)
        .order_by("funds_available_on")
        .values_list("id", flat=True)[:limit]
    )
    released = 0
    for payment_id in due:
        with transaction.atomic():
            payment = Payment.objects.select_for_update().get(pk=payment_id)
            if payment.funds_released_at is not None:
                continue  # another run got there first
            if payment.funds_pending:
                ledger_recipes.funds_released(
                    merchant_id=payment.merchant_id,
                    payment_id=payment.id,
                    amount=Money(payment.funds_pending, payment.currency),
                    occurred_at=now,
                )
            Payment.objects.filter(pk=payment.pk).update(funds_pending=0, funds_released_at=now)
            released += 1
    return released


def funds_write_off(*, merchant: Merchant, currency: str, amount: int, reason: str, actor: str) -> JournalTransaction:
    """The platform gives up on ``amount`` of what ``merchant`` owes in ``currency``: the only way a merchant's debt
    becomes the platform's loss. The caller records who asked (the back office's audit log)."""
    return ledger_recipes.merchant_write_off(
        write_off_id=new_id("wo"),
        merchant_id=merchant.id,
        amount=Money(amount, currency.lower()),
        reason=reason,
        actor=actor,
        occurred_at=timezone.now(),
    )
