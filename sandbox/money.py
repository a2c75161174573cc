"""Money arithmetic. Amounts are integer minor units everywhere; no floats ever touch an amount."""

from __future__ import annotations

# Card pricing: 2.9 % + 30 minor units per capture. UPI pricing: 0.3 %, no fixed part.
CARD_FEE_PER_MILLE = 29
CARD_FEE_FIXED = 30
UPI_FEE_PER_MILLE = 3
# Charged (as a ``fee_adjustment`` settlement line) when a chargeback is opened; not returned if the dispute is won.
DISPUTE_FEE = 1500


def div_round_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounding halves away from zero for non-negative numerators (0.5 -> 1)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("numerator must be >= 0 and denominator > 0")
    return (2 * numerator + denominator) // (2 * denominator)


def card_fee(amount: int) -> int:
    """2.9 % of ``amount`` rounded half up, plus 30. E.g. 1000 -> 29 + 30 = 59; 1017 -> 29.493 -> 29 + 30 = 59."""
    return div_round_half_up(amount * CARD_FEE_PER_MILLE, 1000) + CARD_FEE_FIXED


def upi_fee(amount: int) -> int:
    """0.3 % of ``amount`` rounded half up. E.g. 10000 paise -> 30; 150 paise -> 0.45 -> 0."""
    return div_round_half_up(amount * UPI_FEE_PER_MILLE, 1000)


def fee_for(provider: str, amount: int) -> int:
    return upi_fee(amount) if provider == "upi" else card_fee(amount)


def rupees(paise: int) -> str:
    """Format integer paise as rupees with exactly two decimals, without going through floats (12345 -> '123.45')."""
    if paise < 0:
        raise ValueError("paise must be >= 0")
    return f"{paise // 100}.{paise % 100:02d}"
