"""Amounts as people read and type them, for currencies with 2, 0 and 3 decimal places."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.amounts import AmountFormatError, amount_display, amount_parse, amount_plain


@pytest.mark.parametrize(
    ("amount", "currency", "shown", "plain"),
    [
        (1250, "usd", "$12.50", "12.50"),
        (5, "usd", "$0.05", "0.05"),
        (-1250, "usd", "-$12.50", "-12.50"),
        (123456789, "inr", "₹1,234,567.89", "1234567.89"),
        (1250, "jpy", "¥1,250", "1250"),
        (1250, "kwd", "KWD 1.250", "1.250"),
        (100, "cad", "CA$1.00", "1.00"),
    ],
)
def test_minor_units_are_shown_in_the_currency_s_units(amount, currency, shown, plain):
    assert amount_display(amount, currency) == shown
    assert amount_plain(amount, currency) == plain


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "usd", 1250),
        ("12.5", "usd", 1250),
        ("12", "usd", 1200),
        (" 1,250.00 ", "usd", 125000),
        (".05", "usd", 5),
        ("12.500", "usd", 1250),
        ("1250", "jpy", 1250),
        ("1,250", "jpy", 1250),
        ("1250.00", "jpy", 1250),
        ("1.25", "kwd", 1250),
        ("1.250", "kwd", 1250),
        ("0.001", "kwd", 1),
    ],
)
def test_typed_amounts_become_minor_units(text, currency, minor):
    assert amount_parse(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("12.505", "usd", "USD has 2 decimal places"),
        ("1250.5", "jpy", "JPY has no decimal places"),
        ("1.2505", "kwd", "KWD has 3 decimal places"),
        ("12,50", "usd", "like 12.50"),
        ("-5", "usd", "like 12.50"),
        ("$12.50", "usd", "like 12.50"),
        ("1e3", "usd", "like 12.50"),
        ("", "jpy", "like 1250"),
        ("12.50", "xts", "not an ISO 4217 currency"),
    ],
)
def test_anything_else_is_refused_with_the_currency_s_rule(text, currency, message):
    with pytest.raises(AmountFormatError, match=message):
        amount_parse(text, currency)


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(["usd", "jpy", "kwd", "inr", "bhd", "clf"]))
def test_what_is_shown_plain_parses_back_to_the_same_minor_units(amount, currency):
    assert amount_parse(amount_plain(amount, currency), currency) == amount
