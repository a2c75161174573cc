"""ISO 4217 currencies and their minor-unit exponents, from the ISO maintenance agency's table (``iso4217``).

Amounts travel as integers of minor units everywhere, so the exponent is what turns ``1000`` into ¥1,000 or $10.00
or 1.000 KWD. Funds, metals and testing codes have no minor unit and cannot be charged.
"""

from __future__ import annotations

from functools import cache

from iso4217 import Currency


@cache
def _exponents() -> dict[str, int]:
    return {c.code.lower(): c.exponent for c in Currency if c.exponent is not None}


def currency_exponent(currency: str) -> int:
    """The number of decimal places of ``currency`` (lower-case ISO 4217); ``KeyError`` when it is not one."""
    return _exponents()[currency]


def is_currency(currency: str) -> bool:
    return currency in _exponents()


def currency_codes() -> list[str]:
    return sorted(_exponents())
