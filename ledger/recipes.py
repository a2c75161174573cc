"""One function per money flow: the entries each business fact posts, under a deterministic reference.

Payments and reconciliation call these, never ``post`` with hand-built entries, so every flow is written the same
way everywhere and calling one twice for the same fact is a no-op that returns the first transaction. The table of
accounts debited and credited is in ``ledger/README.md``. Every recipe records where the money came from
(``source_type``/``source_id``) and, for provider-side facts, the connector and the provider's reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction as db_transaction

from ledger import accounts
from ledger.accounts import AccountSpec
from ledger.exceptions import CurrencyMismatchError, InvalidAmountError, InvalidPostingError, TransactionNotFoundError
from ledger.models import JournalTransaction
from ledger.money import Money
from ledger.posting import Leg, Posting, credit, debit, lock_balances, post, reverse


def _positive(name: str, money: Money) -> None:
    if money.amount <= 0:
        raise InvalidAmountError(f"{name} must be positive, not {money}", param=name)


def _fee_within(gross: Money, fee: Money, name: str = "fee") -> None:
    if fee.currency != gross.currency:
        raise CurrencyMismatchError(f"{name} in {fee.currency}, amount in {gross.currency}", param=name)
    if fee.amount < 0 or fee.amount > gross.amount:
        raise InvalidAmountError(f"{name} {fee} must be between zero and {gross}", param=name)


def _provider(
    connector: str,
    provider_reference: str | None,
    *,
    occurred_at: datetime | None = None,
    provider_occurred_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The provider's facts about a posting. Its clock is one of them, never ours: ``occurred_at`` (availability,
    ordering) is our clock; the provider's time is kept here, with how far it is from ours and whether that is more
    than ``LEDGER_CLOCK_SKEW_FLAG_SECONDS``."""
    metadata: dict[str, Any] = {"connector": connector, **extra}
    if provider_reference:
        metadata["provider_reference"] = provider_reference
    if provider_occurred_at is not None and occurred_at is not None:
        skew = round((provider_occurred_at - occurred_at).total_seconds())
        metadata["provider_occurred_at"] = provider_occurred_at.isoformat()
        metadata["provider_clock_skew_seconds"] = skew
        if abs(skew) > settings.LEDGER_CLOCK_SKEW_FLAG_SECONDS:
            metadata["provider_clock_skew_flagged"] = True
    return metadata


def _posted(reference: str) -> JournalTransaction:
    try:
        return JournalTransaction.objects.get(reference=reference)
    except JournalTransaction.DoesNotExist:
        raise TransactionNotFoundError(f"nothing was posted as {reference}", param="reference") from None


def _reverse_posted(original: str, *, reference: str, description: str, occurred_at: datetime) -> JournalTransaction:
    return reverse(_posted(original), reference=reference, description=description, occurred_at=occurred_at)


@dataclass(frozen=True, slots=True)
class MerchantDebit:
    """How a debit of a merchant's balance was covered: by available funds, by the payment's own pending funds, and
    what neither covered (``owed``: the available balance went, or went further, below zero)."""

    transaction: JournalTransaction
    from_available: int
    from_pending: int
    owed: int
    created: bool = True  # False: the reference was already posted, and this is that first posting


def _merchant_debit(
    *,
    reference: str,
    merchant_id: str,
    amount: Money,
    credits: list[Leg],
    pending_cap: int,
    pending_available_on: datetime | None,
    description: str,
    occurred_at: datetime,
    source_type: str,
    source_id: str,
    metadata: dict[str, Any],
) -> MerchantDebit:
    """Takes ``amount`` from the merchant: available funds first, then up to ``pending_cap`` of the pending funds of
    the payment it concerns (the caller knows how much of that payment is still pending), and the rest from
    available, below zero if need be. The split depends on balances, so every account is locked before it is
    decided; a second call for the same reference returns the first posting and its split."""
    currency = amount.currency
    available = accounts.merchant_available(merchant_id, currency)
    pending = accounts.merchant_pending(merchant_id, currency)
    with db_transaction.atomic():
        balances = lock_balances([available, pending, *(leg.account for leg in credits)])
        # Checked under the locks, so a concurrent second call waits and then finds the first one's posting.
        existing = JournalTransaction.objects.filter(reference=reference).first()
        created = existing is None
        if existing is None:
            from_available = min(amount.amount, max(balances[available.code].amount, 0))
            from_pending = min(amount.amount - from_available, max(pending_cap, 0), balances[pending.code].amount)
            owed = amount.amount - from_available - from_pending
            legs = [*credits]
            if from_available + owed:
                legs.append(debit(available, Money(from_available + owed, currency)))
            if from_pending:
                legs.append(debit(pending, Money(from_pending, currency)))
            existing = post(
                reference=reference,
                entries=legs,
                description=description,
                occurred_at=occurred_at,
                source_type=source_type,
                source_id=source_id,
                metadata={**metadata, "from_available": from_available, "from_pending": from_pending, "owed": owed},
                # Money taken from a payment's pending funds would have become available with them.
                available_on=pending_available_on if from_pending and pending_available_on else None,
            )
    split = existing.metadata
    from_pending, owed = int(split.get("from_pending", 0)), int(split.get("owed", 0))
    return MerchantDebit(existing, amount.amount - from_pending - owed, from_pending, owed, created)


def _returned_to_merchant(
    original: str, *, reference: str, description: str, occurred_at: datetime, restore_pending: bool
) -> JournalTransaction:
    """The exact opposite of ``original`` when ``restore_pending`` (the payment it drew on is still pending, and the
    caller puts the amount back in its pending funds); otherwise what it took from pending comes back as available
    money, because that payment's funds were released meanwhile and pending must only hold what a release moves."""
    source = _posted(original)
    substitute = {}
    if not restore_pending:
        for merchant_id, currency in source.entries.filter(merchant_id__isnull=False).values_list(
            "merchant_id", "currency"
        ):
            pending = accounts.merchant_pending(merchant_id, currency)
            substitute[pending.code] = accounts.merchant_available(merchant_id, currency)
    return reverse(
        source,
        reference=reference,
        description=description,
        occurred_at=occurred_at,
        # The provider's side travels with it, so reconciliation can match the provider's line for the reversal.
        metadata={
            **{key: source.metadata[key] for key in ("connector", "provider_reference") if key in source.metadata},
            "payment_id": source.metadata.get("payment_id"),
            "restored_pending": restore_pending,
        },
        substitute=substitute,
    )


def payment_captured(
    *,
    merchant_id: str,
    connector: str,
    payment_id: str,
    gross: Money,
    fee: Money,
    occurred_at: datetime,
    available_on: datetime,
    provider_reference: str | None = None,
    provider_occurred_at: datetime | None = None,
) -> JournalTransaction:
    """The provider owes us ``gross``; the merchant's pending balance gets ``gross - fee`` until ``available_on``,
    our revenue ``fee``."""
    _positive("gross", gross)
    _fee_within(gross, fee)
    currency = gross.currency
    legs = [
        debit(accounts.psp_receivable(connector, currency), gross),
        credit(accounts.merchant_pending(merchant_id, currency), gross - fee),
    ]
    if fee.amount:
        legs.append(credit(accounts.platform_fee_revenue(currency), fee))
    # A 100% fee leaves nothing for the merchant; a zero-amount entry is not allowed, so drop that leg.
    legs = [leg for leg in legs if leg.money.amount]
    return post(
        reference=f"payment:{payment_id}:capture",
        entries=legs,
        description=f"Payment {payment_id} captured",
        occurred_at=occurred_at,
        source_type="payment",
        source_id=payment_id,
        metadata=_provider(
            connector,
            provider_reference,
            occurred_at=occurred_at,
            provider_occurred_at=provider_occurred_at,
            gross=gross.amount,
            fee=fee.amount,
            merchant_id=merchant_id,
        ),
        available_on=available_on,
    )


def funds_released(*, merchant_id: str, payment_id: str, amount: Money, occurred_at: datetime) -> JournalTransaction:
    """On the payment's ``available_on``, its net amount moves from pending to available."""
    _positive("amount", amount)
    return post(
        reference=f"payment:{payment_id}:release",
        entries=[
            debit(accounts.merchant_pending(merchant_id, amount.currency), amount),
            credit(accounts.merchant_available(merchant_id, amount.currency), amount),
        ],
        description=f"Funds of payment {payment_id} available",
        occurred_at=occurred_at,
        source_type="payment",
        source_id=payment_id,
        metadata={"merchant_id": merchant_id},
    )


def refund_created(
    *,
    merchant_id: str,
    connector: str,
    refund_id: str,
    payment_id: str,
    amount: Money,
    occurred_at: datetime,
    pending_cap: int = 0,
    pending_available_on: datetime | None = None,
    provider_reference: str | None = None,
    provider_occurred_at: datetime | None = None,
) -> MerchantDebit:
    """A refund is the merchant's: its available balance first, then up to ``pending_cap`` of the refunded
    payment's own pending funds, the rest owed (available below zero). It never fails for want of funds.

    The provider nets the refund out of its next settlement, so it reduces what it owes us. Our fee is kept.
    """
    _positive("amount", amount)
    return _merchant_debit(
        reference=f"refund:{refund_id}",
        merchant_id=merchant_id,
        amount=amount,
        credits=[credit(accounts.psp_receivable(connector, amount.currency), amount)],
        pending_cap=pending_cap,
        pending_available_on=pending_available_on,
        description=f"Refund {refund_id} of payment {payment_id}",
        occurred_at=occurred_at,
        source_type="refund",
        source_id=refund_id,
        metadata=_provider(
            connector,
            provider_reference,
            occurred_at=occurred_at,
            provider_occurred_at=provider_occurred_at,
            payment_id=payment_id,
            merchant_id=merchant_id,
        ),
    )


def refund_failed(*, refund_id: str, occurred_at: datetime, restore_pending: bool = False) -> JournalTransaction:
    """The provider could not refund: the merchant gets the money back (see ``_returned_to_merchant``)."""
    return _returned_to_merchant(
        f"refund:{refund_id}",
        reference=f"refund:{refund_id}:failed",
        description=f"Refund {refund_id} failed",
        occurred_at=occurred_at,
        restore_pending=restore_pending,
    )


def chargeback_opened(
    *,
    merchant_id: str,
    connector: str,
    dispute_id: str,
    payment_id: str,
    amount: Money,
    dispute_fee: Money,
    occurred_at: datetime,
    pending_cap: int = 0,
    pending_available_on: datetime | None = None,
    provider_reference: str | None = None,
    provider_occurred_at: datetime | None = None,
) -> MerchantDebit:
    """The provider takes the disputed amount back; the merchant pays it plus our dispute fee, like a refund:
    available first, then the payment's own pending funds, the rest owed. The platform never absorbs it here (only
    an explicit write-off does)."""
    _positive("amount", amount)
    if dispute_fee.currency != amount.currency or dispute_fee.amount < 0:
        raise InvalidAmountError(f"dispute_fee must be a non-negative {amount.currency} amount", param="dispute_fee")
    currency = amount.currency
    credits = [credit(accounts.psp_receivable(connector, currency), amount)]
    if dispute_fee.amount:
        credits.append(credit(accounts.platform_fee_revenue(currency), dispute_fee))
    return _merchant_debit(
        reference=f"dispute:{dispute_id}:opened",
        merchant_id=merchant_id,
        amount=amount + dispute_fee,
        credits=credits,
        pending_cap=pending_cap,
        pending_available_on=pending_available_on,
        description=f"Chargeback {dispute_id} on payment {payment_id}",
        occurred_at=occurred_at,
        source_type="dispute",
        source_id=dispute_id,
        metadata=_provider(
            connector,
            provider_reference,
            occurred_at=occurred_at,
            provider_occurred_at=provider_occurred_at,
            payment_id=payment_id,
            merchant_id=merchant_id,
            fee=dispute_fee.amount,
        ),
    )


def dispute_won(*, dispute_id: str, occurred_at: datetime, restore_pending: bool = False) -> JournalTransaction:
    """The merchant won: the amount and the dispute fee come back (see ``_returned_to_merchant``)."""
    return _returned_to_merchant(
        f"dispute:{dispute_id}:opened",
        reference=f"dispute:{dispute_id}:won",
        description=f"Dispute {dispute_id} won",
        occurred_at=occurred_at,
        restore_pending=restore_pending,
    )


def payout_created(*, merchant_id: str, payout_id: str, amount: Money, occurred_at: datetime) -> JournalTransaction:
    """Money leaves the merchant's available balance for the bank, never taking it below zero
    (``InsufficientFundsError``): a merchant that owes money, or has only pending funds, is paid nothing."""
    _positive("amount", amount)
    return post(
        reference=f"payout:{payout_id}",
        entries=[
            debit(accounts.merchant_available(merchant_id, amount.currency), amount, no_overdraft=True),
            credit(accounts.bank_cash(amount.currency), amount),
        ],
        description=f"Payout {payout_id}",
        occurred_at=occurred_at,
        source_type="payout",
        source_id=payout_id,
        metadata={"merchant_id": merchant_id},
    )


def payout_failed(*, payout_id: str, occurred_at: datetime) -> JournalTransaction:
    """The payout failed or the bank returned it (even after ``paid``): the amount is available again."""
    return _reverse_posted(
        f"payout:{payout_id}",
        reference=f"payout:{payout_id}:failed",
        description=f"Payout {payout_id} failed or returned",
        occurred_at=occurred_at,
    )


def psp_settlement(
    *,
    connector: str,
    settlement_id: str,
    gross: Money,
    fee: Money,
    occurred_at: datetime,
    provider_reference: str | None = None,
) -> JournalTransaction:
    """The provider paid ``gross - fee`` into our bank and charged us ``fee``; it owes us ``gross`` less."""
    _positive("gross", gross)
    _fee_within(gross, fee)
    posting = psp_settlement_posting(
        connector=connector,
        settlement_id=settlement_id,
        gross=gross,
        fee=fee,
        occurred_at=occurred_at,
        provider_reference=provider_reference,
    )
    return post(
        reference=posting.reference,
        entries=posting.entries,
        description=posting.description,
        occurred_at=posting.occurred_at,
        source_type=posting.source_type,
        source_id=posting.source_id,
        metadata=posting.metadata,
    )


def psp_settlement_posting(
    *,
    connector: str,
    settlement_id: str,
    gross: Money,
    fee: Money,
    occurred_at: datetime,
    provider_reference: str | None = None,
    our_reference: str | None = None,
) -> Posting:
    """One settlement line as a :class:`Posting` for ``post_many``: the bank moves by ``gross - fee``, the fee is
    an expense and the receivable shrinks by ``gross``. ``gross`` is signed as in a settlement file, so a refund
    netted into the batch (negative gross) moves the same accounts the other way."""
    if fee.currency != gross.currency:
        raise CurrencyMismatchError(f"fee in {fee.currency}, amount in {gross.currency}", param="fee")
    if not gross.amount and not fee.amount:
        raise InvalidAmountError("a settlement line moves no money", param="gross")
    currency = gross.currency
    debits = (
        (accounts.bank_cash(currency), gross.amount - fee.amount),
        (accounts.psp_fee_expense(connector, currency), fee.amount),
        (accounts.psp_receivable(connector, currency), -gross.amount),
    )
    legs = [
        debit(spec, Money(amount, currency)) if amount > 0 else credit(spec, Money(-amount, currency))
        for spec, amount in debits
        if amount
    ]
    extra: dict[str, Any] = {"gross": gross.amount, "fee": fee.amount}
    if our_reference:
        extra["our_reference"] = our_reference
    return Posting(
        reference=f"settlement:{connector}:{settlement_id}",
        entries=legs,
        description=f"{connector} settlement {settlement_id}",
        occurred_at=occurred_at,
        source_type="settlement",
        source_id=settlement_id,
        metadata=_provider(connector, provider_reference, **extra),
    )


def psp_settlement_superseded(
    *, connector: str, settlement_id: str, occurred_at: datetime, reason: str
) -> JournalTransaction:
    """The provider replaced the file a settlement line came from and the line is gone or changed: its posting is
    reversed exactly (the corrected line, if any, is posted under its own settlement id)."""
    return _reverse_posted(
        f"settlement:{connector}:{settlement_id}",
        reference=f"settlement:{connector}:{settlement_id}:superseded",
        description=f"{connector} settlement {settlement_id} superseded: {reason}",
        occurred_at=occurred_at,
    )


def manual_adjustment(
    *,
    adjustment_id: str,
    debit_account: AccountSpec,
    credit_account: AccountSpec,
    amount: Money,
    reason: str,
    actor: str,
    occurred_at: datetime,
) -> JournalTransaction:
    """A reviewed correction between two accounts (e.g. suspense to a merchant); who and why are kept."""
    _positive("amount", amount)
    if not reason or not actor:
        raise InvalidPostingError("a manual adjustment needs a reason and an actor", param="reason")
    return post(
        reference=f"adjustment:{adjustment_id}",
        entries=[debit(debit_account, amount), credit(credit_account, amount)],
        description=reason,
        occurred_at=occurred_at,
        source_type="adjustment",
        source_id=adjustment_id,
        metadata={"actor": actor, "reason": reason},
    )


def manual_adjustment_reversed(*, adjustment_id: str, occurred_at: datetime, reason: str) -> JournalTransaction:
    """A reviewed correction turned out wrong (e.g. money written off as never settled arrived after all): its
    exact reversal, once."""
    return _reverse_posted(
        f"adjustment:{adjustment_id}",
        reference=f"adjustment:{adjustment_id}:reversal",
        description=f"Reversal of adjustment {adjustment_id}: {reason}",
        occurred_at=occurred_at,
    )


def merchant_write_off(
    *,
    write_off_id: str,
    merchant_id: str,
    amount: Money,
    reason: str,
    actor: str,
    occurred_at: datetime,
) -> JournalTransaction:
    """The platform gives up on ``amount`` of what a merchant owes (its negative available balance): the only way a
    loss reaches the platform's books. Never more than is owed; who and why are kept."""
    _positive("amount", amount)
    if not reason.strip() or not actor.strip():
        raise InvalidPostingError("a write-off needs a reason and an actor", param="reason")
    available = accounts.merchant_available(merchant_id, amount.currency)
    losses = accounts.write_offs(amount.currency)
    with db_transaction.atomic():
        owed = -lock_balances([available, losses])[available.code].amount
        if JournalTransaction.objects.filter(reference=f"write_off:{write_off_id}").exists():
            return _posted(f"write_off:{write_off_id}")
        if amount.amount > owed:
            raise InvalidAmountError(
                f"the merchant owes {max(owed, 0)} {amount.currency}; {amount.amount} cannot be written off",
                code="write_off_exceeds_owed",
                param="amount",
            )
        return post(
            reference=f"write_off:{write_off_id}",
            entries=[debit(losses, amount), credit(available, amount)],
            description=f"Written off: {reason}",
            occurred_at=occurred_at,
            source_type=accounts.WRITE_OFF_SOURCE,
            source_id=write_off_id,
            metadata={"merchant_id": merchant_id, "actor": actor, "reason": reason},
        )
