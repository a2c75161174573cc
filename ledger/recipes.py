"""One function per money flow: the entries each business fact posts, under a deterministic reference.

Payments and reconciliation call these, never ``post`` with hand-built entries, so every flow is written the same
way everywhere and calling one twice for the same fact is a no-op that returns the first transaction. The table of
accounts debited and credited is in ``ledger/README.md``. Every recipe records where the money came from
(``source_type``/``source_id``) and, for provider-side facts, the connector and the provider's reference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import accounts
from ledger.accounts import AccountSpec
from ledger.exceptions import CurrencyMismatchError, InvalidAmountError, InvalidPostingError, TransactionNotFoundError
from ledger.models import JournalTransaction
from ledger.money import Money
from ledger.posting import Leg, Posting, credit, debit, post, reverse


def _positive(name: str, money: Money) -> None:
    if money.amount <= 0:
        raise InvalidAmountError(f"{name} must be positive, not {money}", param=name)


def _fee_within(gross: Money, fee: Money, name: str = "fee") -> None:
    if fee.currency != gross.currency:
        raise CurrencyMismatchError(f"{name} in {fee.currency}, amount in {gross.currency}", param=name)
    if fee.amount < 0 or fee.amount > gross.amount:
        raise InvalidAmountError(f"{name} {fee} must be between zero and {gross}", param=name)


def _provider(connector: str, provider_reference: str | None, **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"connector": connector, **extra}
    if provider_reference:
        metadata["provider_reference"] = provider_reference
    return metadata


def _reverse_posted(original: str, *, reference: str, description: str, occurred_at: datetime) -> JournalTransaction:
    try:
        transaction = JournalTransaction.objects.get(reference=original)
    except JournalTransaction.DoesNotExist:
        raise TransactionNotFoundError(f"nothing was posted as {original}", param="reference") from None
    return reverse(transaction, reference=reference, description=description, occurred_at=occurred_at)


def payment_captured(
    *,
    merchant_id: str,
    connector: str,
    payment_id: str,
    gross: Money,
    fee: Money,
    occurred_at: datetime,
    provider_reference: str | None = None,
) -> JournalTransaction:
    """The provider owes us ``gross``; the merchant's pending balance gets ``gross - fee``, our revenue ``fee``."""
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
        metadata=_provider(connector, provider_reference, gross=gross.amount, fee=fee.amount, merchant_id=merchant_id),
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
    provider_reference: str | None = None,
) -> JournalTransaction:
    """A refund draws on the merchant's available balance, and on pending for what available cannot cover.

    The provider nets the refund out of its next settlement, so it reduces what it owes us. Our fee is kept.
    """
    _positive("amount", amount)
    currency = amount.currency
    return post(
        reference=f"refund:{refund_id}",
        entries=[
            debit(
                accounts.merchant_available(merchant_id, currency),
                amount,
                overflow=accounts.merchant_pending(merchant_id, currency),
            ),
            credit(accounts.psp_receivable(connector, currency), amount),
        ],
        description=f"Refund {refund_id} of payment {payment_id}",
        occurred_at=occurred_at,
        source_type="refund",
        source_id=refund_id,
        metadata=_provider(connector, provider_reference, payment_id=payment_id, merchant_id=merchant_id),
    )


def refund_failed(*, refund_id: str, occurred_at: datetime) -> JournalTransaction:
    """The provider could not refund: the refund's exact entries are reversed."""
    return _reverse_posted(
        f"refund:{refund_id}",
        reference=f"refund:{refund_id}:failed",
        description=f"Refund {refund_id} failed",
        occurred_at=occurred_at,
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
    provider_reference: str | None = None,
) -> JournalTransaction:
    """The provider takes the disputed amount back; the merchant pays it plus our dispute fee.

    Whatever the merchant's available balance cannot cover is our chargeback loss (an expense), never a negative
    available balance.
    """
    _positive("amount", amount)
    if dispute_fee.currency != amount.currency or dispute_fee.amount < 0:
        raise InvalidAmountError(f"dispute_fee must be a non-negative {amount.currency} amount", param="dispute_fee")
    currency = amount.currency
    available = accounts.merchant_available(merchant_id, currency)
    losses = accounts.chargeback_losses(currency)
    legs: list[Leg] = [
        debit(available, amount, overflow=losses),
        credit(accounts.psp_receivable(connector, currency), amount),
    ]
    if dispute_fee.amount:
        legs += [
            debit(available, dispute_fee, overflow=losses),
            credit(accounts.platform_fee_revenue(currency), dispute_fee),
        ]
    return post(
        reference=f"dispute:{dispute_id}:opened",
        entries=legs,
        description=f"Chargeback {dispute_id} on payment {payment_id}",
        occurred_at=occurred_at,
        source_type="dispute",
        source_id=dispute_id,
        metadata=_provider(
            connector, provider_reference, payment_id=payment_id, merchant_id=merchant_id, fee=dispute_fee.amount
        ),
    )


def dispute_won(*, dispute_id: str, occurred_at: datetime) -> JournalTransaction:
    """The merchant won: the chargeback's exact entries (amount and fee, loss included) are reversed."""
    return _reverse_posted(
        f"dispute:{dispute_id}:opened",
        reference=f"dispute:{dispute_id}:won",
        description=f"Dispute {dispute_id} won",
        occurred_at=occurred_at,
    )


def payout_created(*, merchant_id: str, payout_id: str, amount: Money, occurred_at: datetime) -> JournalTransaction:
    """Money leaves the merchant's available balance (never below zero: ``InsufficientFundsError``) for the bank."""
    _positive("amount", amount)
    return post(
        reference=f"payout:{payout_id}",
        entries=[
            debit(accounts.merchant_available(merchant_id, amount.currency), amount),
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
