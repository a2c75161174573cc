from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection

from ledger import accounts, recipes
from ledger.models import JournalEntry, JournalTransaction
from ledger.money import Money

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def usd(amount: int) -> Money:
    return Money(amount, "usd")


def fund(merchant_id: str, amount: int, *, payment_id: str | None = None) -> None:
    """Gives a merchant ``amount`` of available USD the way production does: a fee-less capture, then release."""
    payment_id = payment_id or f"pay_fund_{merchant_id}_{amount}"
    recipes.payment_captured(
        merchant_id=merchant_id,
        connector="sandbox",
        payment_id=payment_id,
        gross=usd(amount),
        fee=usd(0),
        occurred_at=NOW,
        available_on=NOW,
    )
    recipes.funds_released(merchant_id=merchant_id, payment_id=payment_id, amount=usd(amount), occurred_at=NOW)


def journal_size() -> tuple[int, int]:
    return JournalTransaction.objects.count(), JournalEntry.objects.count()


def available(merchant_id: str) -> accounts.AccountSpec:
    return accounts.merchant_available(merchant_id, "usd")


def pending(merchant_id: str) -> accounts.AccountSpec:
    return accounts.merchant_pending(merchant_id, "usd")


def force_deferred_checks() -> None:
    """Runs the deferred constraint triggers now, as COMMIT would (tests never commit)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
