"""Pure functions (no server): fee rounding, paise formatting, Luhn, webhook signatures."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.cards import brand_of, luhn_ok
from sandbox.money import card_fee, div_round_half_up, rupees, upi_fee
from sandbox.webhooks import sign, verify


@pytest.mark.parametrize(
    ("amount", "fee"),
    [(1000, 59), (1017, 59), (1018, 60), (50, 31), (3000, 117), (100_000, 2930)],
)
def test_card_fee(amount: int, fee: int) -> None:
    assert card_fee(amount) == fee


@pytest.mark.parametrize(("amount", "fee"), [(10000, 30), (12345, 37), (150, 0), (500, 2), (167, 1)])
def test_upi_fee(amount: int, fee: int) -> None:
    assert upi_fee(amount) == fee


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=10**6))
def test_round_half_up_matches_decimal(numerator: int, denominator: int) -> None:
    expected = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding="ROUND_HALF_UP")
    assert div_round_half_up(numerator, denominator) == int(expected)


@given(st.integers(min_value=0, max_value=10**12))
def test_rupees_round_trip(paise: int) -> None:
    text = rupees(paise)
    assert Decimal(text) * 100 == paise
    assert len(text.split(".")[1]) == 2


def test_luhn_and_brand() -> None:
    assert luhn_ok("4242424242424242")
    assert not luhn_ok("4242424242424241")
    assert brand_of("5555555555554444") == "mastercard"
    assert brand_of("2223003122003222") == "mastercard"
    assert brand_of("378282246310005") == "amex"


def test_signature_round_trip() -> None:
    now = int(time.time())
    header = sign("whsec_x", now, b'{"a":1}')
    assert verify("whsec_x", header, b'{"a":1}')
    assert not verify("whsec_y", header, b'{"a":1}')
    assert not verify("whsec_x", sign("whsec_x", now - 1000, b"{}"), b"{}")
