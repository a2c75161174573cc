"""The chart of accounts: every account the money flows use, named by a stable code.

Specs are plain values, built without touching the database; ``ledger.posting`` creates the account the first time
a posting names it (``INSERT … ON CONFLICT (code) DO NOTHING`` inside the posting's transaction), so callers never
need a lookup before posting. A code, once created, keeps its type, currency, merchant and non-negative flag.

| code | type | notes |
|---|---|---|
| ``merchant:{merchant_id}:{currency}:pending`` | liability | captured funds not yet released; never negative |
| ``merchant:{merchant_id}:{currency}:available`` | liability | below zero: money the merchant owes us |
| ``platform:psp:{connector}:{currency}:receivable`` | asset | owed to us by the provider until it settles |
| ``platform:psp:{connector}:{currency}:fees`` | expense | what the provider charges us |
| ``platform:{currency}:fee_revenue`` | revenue | our fees on payments and disputes |
| ``platform:{currency}:bank`` | asset | settlement cash at our bank |
| ``platform:{currency}:write_offs`` | expense | merchant debts we gave up on, only by an audited write-off |
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
    """Captured funds waiting for their ``available_on``. Only the payment's own refunds and disputes may draw on
    them, so it never goes below zero (the database refuses it)."""
    return AccountSpec(
        f"merchant:{merchant_id}:{currency}:pending",
        AccountType.LIABILITY,
        currency,
        merchant_id,
        True,
        "Merchant pending balance",
    )


def merchant_available(merchant_id: str, currency: str) -> AccountSpec:
    """What the merchant may be paid out. Below zero it is money the merchant owes: refunds and disputes never
    fail for want of funds, and every payout refuses to take it below zero (``no_overdraft``)."""
    return AccountSpec(
        f"merchant:{merchant_id}:{currency}:available",
        AccountType.LIABILITY,
        currency,
        merchant_id,
        False,
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


def write_offs(currency: str) -> AccountSpec:
    """The platform's only loss account for merchant debts: moved only by ``recipes.merchant_write_off``."""
    return AccountSpec(f"platform:{currency}:write_offs", AccountType.EXPENSE, currency, name="Merchant write-offs")


# Accounts where the platform absorbs a loss. ``verify_ledger`` refuses any movement on them that is not an explicit
# write-off (``chargeback_losses`` was once filled by a posting rule; it stays listed so old rows are checked too).
LOSS_ACCOUNT_SUFFIXES = (":write_offs", ":chargeback_losses")
WRITE_OFF_SOURCE = "write_off"


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
