"""Money as an integer of minor units plus a lower-case ISO 4217 currency.

No floats and no Decimals: an amount is what the provider and the bank count in (cents, paise). Arithmetic between
two currencies is refused rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.exceptions import CurrencyMismatchError, InvalidAmountError

_CURRENCY = re.compile(r"[a-z]{3}")
_SEEN: set[str] = set()  # currencies already checked: Money is built on every posting's hot path


def check_currency(currency: str) -> str:
    if type(currency) is str and currency in _SEEN:
        return currency
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise InvalidAmountError(f"currency must be three lower-case ISO 4217 letters, not {currency!r}")
    _SEEN.add(currency)
    return currency


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        # bool is an int subclass; True cents is a bug, not an amount.
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise InvalidAmountError(f"amount must be an integer of minor units, not {self.amount!r}")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    @property
    def is_positive(self) -> bool:
        return self.amount > 0

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
