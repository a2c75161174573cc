"""The chart of accounts: every account the money flows use, named by a stable code.

Specs are plain values, built without touching the database; ``ledger.posting`` creates the account the first time
a posting names it (``INSERT … ON CONFLICT (code) DO NOTHING`` inside the posting's transaction), so callers never
need a lookup before posting. A code, once created, keeps its type, currency, merchant and non-negative flag.

| code | type | notes |
|---|---|---|
| ``merchant:{merchant_id}:{currency}:pending`` | liability | captured funds not yet released to the merchant |
| ``merchant:{merchant_id}:{currency}:available`` | liability | never negative: payouts and refunds draw on it |
| ``platform:psp:{connector}:{currency}:receivable`` | asset | owed to us by the provider until it settles |
| ``platform:psp:{connector}:{currency}:fees`` | expense | what the provider charges us |
| ``platform:{currency}:fee_revenue`` | revenue | our fees on payments and disputes |
| ``platform:{currency}:bank`` | asset | settlement cash at our bank |
| ``platform:{currency}:chargeback_losses`` | expense | disputes a merchant's balance could not cover |
| ``platform:{currency}:suspense`` | liability | money reconciliation found but could not match |
| ``platform:{currency}:equity`` | equity | capital and manual corrections |
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.enums import AccountType
from ledger.exceptions import AccountNotFoundError
from ledger.models import Account
from ledger.money import check_currency


@dataclass(frozen=True, slots=True)
class AccountSpec:
    code: str
    type: AccountType
    currency: str
    merchant_id: str | None = None
    non_negative: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        check_currency(self.currency)

    @property
    def debit_normal(self) -> bool:
        return AccountType(self.type).debit_normal


def spec_of(account: Account | AccountSpec) -> AccountSpec:
    if isinstance(account, AccountSpec):
        return account
    return AccountSpec(
        code=account.code,
        type=AccountType(account.type),
        currency=account.currency,
        merchant_id=account.merchant_id,
        non_negative=account.non_negative,
        name=account.name,
    )


def merchant_pending(merchant_id: str, currency: str) -> AccountSpec:
    return AccountSpec(
        f"merchant:{merchant_id}:{currency}:pending",
        AccountType.LIABILITY,
        currency,
        merchant_id,
        False,
        "Merchant pending balance",
    )


def merchant_available(merchant_id: str, currency: str) -> AccountSpec:
    return AccountSpec(
        f"merchant:{merchant_id}:{currency}:available",
        AccountType.LIABILITY,
        currency,
        merchant_id,
        True,
        "Merchant available balance",
    )


def psp_receivable(connector: str, currency: str) -> AccountSpec:
    return AccountSpec(
        f"platform:psp:{connector}:{currency}:receivable", AccountType.ASSET, currency, name=f"{connector} receivable"
    )


def psp_fee_expense(connector: str, currency: str) -> AccountSpec:
    return AccountSpec(
        f"platform:psp:{connector}:{currency}:fees", AccountType.EXPENSE, currency, name=f"{connector} fees"
    )


def platform_fee_revenue(currency: str) -> AccountSpec:
    return AccountSpec(f"platform:{currency}:fee_revenue", AccountType.REVENUE, currency, name="Fee revenue")


def bank_cash(currency: str) -> AccountSpec:
    return AccountSpec(f"platform:{currency}:bank", AccountType.ASSET, currency, name="Settlement bank")


def chargeback_losses(currency: str) -> AccountSpec:
    return AccountSpec(
        f"platform:{currency}:chargeback_losses", AccountType.EXPENSE, currency, name="Chargeback losses"
    )


def suspense(currency: str) -> AccountSpec:
    return AccountSpec(f"platform:{currency}:suspense", AccountType.LIABILITY, currency, name="Suspense")


def equity(currency: str) -> AccountSpec:
    return AccountSpec(f"platform:{currency}:equity", AccountType.EQUITY, currency, name="Equity")


def account_get_or_create(spec: AccountSpec) -> Account:
    account, _ = Account.objects.get_or_create(
        code=spec.code,
        defaults={
            "name": spec.name or spec.code,
            "type": spec.type,
            "currency": spec.currency,
            "merchant_id": spec.merchant_id,
            "non_negative": spec.non_negative,
        },
    )
    return account


def account_get(code: str) -> Account:
    try:
        return Account.objects.get(code=code)
    except Account.DoesNotExist:
        raise AccountNotFoundError(f"no ledger account {code!r}", param="account") from None
