"""Reading balances: the newest entry of an account is its balance, one index lookup, never a sum."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import OuterRef, Subquery

from ledger.accounts import AccountSpec, merchant_available, merchant_pending
from ledger.models import Account, JournalEntry
from ledger.money import Money


def balance(account: Account | AccountSpec, as_of: datetime | None = None) -> Money:
    """The balance of ``account`` in its normal sign (a merchant's balance is positive), now or as of ``as_of``.

    ``as_of`` is against the ledger's own clock (``posted_at``): the balance after the newest entry posted at or
    before that instant. An account that does not exist yet has a zero balance.
    """
    entries = (
        JournalEntry.objects.filter(account_id=account.id)
        if isinstance(account, Account)
        else JournalEntry.objects.filter(account__code=account.code)
    )
    if as_of is not None:
        entries = entries.filter(posted_at__lte=as_of).order_by("-posted_at", "-sequence")
    else:
        entries = entries.order_by("-sequence")
    newest = entries.values_list("balance_after", flat=True).first()
    return Money(newest or 0, account.currency)


@dataclass(slots=True)
class MerchantBalances:
    available: list[Money] = field(default_factory=list)
    pending: list[Money] = field(default_factory=list)


def merchant_balances(merchant_id: str) -> MerchantBalances:
    """Every currency's available and pending balance of a merchant, in one query (``GET /v1/balance``)."""
    newest = JournalEntry.objects.filter(account_id=OuterRef("pk")).order_by("-sequence").values("balance_after")[:1]
    rows = (
        Account.objects.filter(merchant_id=merchant_id)
        .annotate(balance=Subquery(newest))
        .order_by("currency")
        .values_list("code", "currency", "balance")
    )
    result = MerchantBalances()
    for code, currency, amount in rows:
        money = Money(amount or 0, currency)
        if code == merchant_available(merchant_id, currency).code:
            result.available.append(money)
        elif code == merchant_pending(merchant_id, currency).code:
            result.pending.append(money)
    return result
