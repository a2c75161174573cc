"""Amounts for people: minor units shown and entered in the currency's own units.

Everywhere else an amount is an integer of minor units (``1250``); a person reads and types ``12.50`` USD,
``1,250`` JPY (no decimals) or ``1.250`` KWD (three). The exponent comes from ISO 4217 (``core.currencies``), the
symbol from CLDR (Babel). Conversion is exact: integer arithmetic and ``Decimal``, never ``float``.
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel.numbers import format_decimal, get_currency_symbol

from core.currencies import currency_exponent

_AMOUNT = re.compile(r"(?P<whole>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<fraction>\d+))?")


class AmountFormatError(ValueError):
    """What a person typed is not an amount of this currency; the message says why, in their terms."""


def _exponent(currency: str) -> int:
    try:
        return currency_exponent(currency.lower())
    except KeyError:
        raise AmountFormatError(f"{currency.upper()} is not an ISO 4217 currency.") from None


def amount_plain(amount: int, currency: str) -> str:
    """``1250`` USD → ``"12.50"``; JPY → ``"1250"``; KWD → ``"1.250"``: what a person would type back."""
    exponent = _exponent(currency)
    sign, magnitude = ("-" if amount < 0 else ""), abs(amount)
    if exponent == 0:
        return f"{sign}{magnitude}"
    whole, fraction = divmod(magnitude, 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}"


def amount_display(amount: int, currency: str) -> str:
    """``1250`` USD → ``"$12.50"``, JPY → ``"¥1,250"``, KWD → ``"KWD 1.250"``, ``-1250`` USD → ``"-$12.50"``."""
    try:
        exponent = _exponent(currency)
    except AmountFormatError:
        return f"{amount} {currency.upper()} (minor units)"
    pattern = "#,##0" + ("." + "0" * exponent if exponent else "")
    number = format_decimal(Decimal(abs(amount)).scaleb(-exponent), format=pattern, locale="en")
    symbol = get_currency_symbol(currency.upper(), locale="en")
    sign = "-" if amount < 0 else ""
    # A symbol made of letters (KWD, CHF) needs a space before the number; $, ¥, CA$, ₹ do not.
    return f"{sign}{symbol} {number}" if symbol[-1].isalpha() else f"{sign}{symbol}{number}"


def amount_parse(text: str, currency: str) -> int:
    """``"12.50"`` USD → ``1250``. Accepts thousands separators (``1,250``) and trailing zeros beyond the
    currency's decimals (``1250.00`` JPY); refuses anything else, with a message naming the currency's rule."""
    exponent = _exponent(currency)
    code = currency.upper()
    match = _AMOUNT.fullmatch(text.strip())
    if match is None or (match.group("whole") is None and match.group("fraction") is None):
        example = amount_plain(1250 * 10 ** max(exponent - 2, 0), currency)
        raise AmountFormatError(f"Enter the amount in {code}, like {example}.")
    fraction = (match.group("fraction") or "").rstrip("0")
    if len(fraction) > exponent:
        places = "no decimal places" if exponent == 0 else f"{exponent} decimal places"
        raise AmountFormatError(f"{code} has {places}; {text.strip()} has more.")
    whole = int((match.group("whole") or "0").replace(",", ""))
    scale: int = 10**exponent  # int ** int is typed loosely (a negative exponent would make a float)
    return whole * scale + int(fraction.ljust(exponent, "0") or "0")
