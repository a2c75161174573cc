"""Card checks made at the API edge, before anything is stored.

The number itself is never stored or logged: a payment keeps brand, last 4 digits, expiry and a fingerprint, an
HMAC of the number under ``settings.LEDGERLINE_FINGERPRINT_SECRET`` (a plain hash of 16 digits with a known prefix
could be reversed by trying them all). Error messages never repeat what the client sent.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

from django.conf import settings

from payments.connectors.base import CardSummary
from payments.enums import CardBrand
from payments.exceptions import InvalidRequestError

_PARAM = "payment_method[card]"
_DIGITS = re.compile(r"^[0-9]{12,19}$")

# (brand, prefix ranges as (low, high) on the leading digits, allowed lengths, cvc length). Checked in order, so
# the narrower ranges come before the wide ones they overlap (RuPay's 60/65 before Discover's 65).
_BRANDS: list[tuple[CardBrand, list[tuple[str, str]], set[int], int]] = [
    (CardBrand.AMEX, [("34", "34"), ("37", "37")], {15}, 4),
    (CardBrand.VISA, [("4", "4")], {13, 16, 19}, 3),
    (CardBrand.MASTERCARD, [("51", "55"), ("2221", "2720")], {16}, 3),
    (CardBrand.RUPAY, [("60", "60"), ("652", "653"), ("81", "82"), ("508", "508")], {16}, 3),
    (CardBrand.DISCOVER, [("6011", "6011"), ("644", "649"), ("65", "65")], {16, 19}, 3),
    (CardBrand.DINERS, [("300", "305"), ("36", "36"), ("38", "39")], {14, 16}, 3),
    (CardBrand.JCB, [("3528", "3589")], {16, 17, 18, 19}, 3),
    (CardBrand.UNIONPAY, [("62", "62")], {16, 17, 18, 19}, 3),
]


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> tuple[CardBrand, set[int], int] | None:
    for brand, ranges, lengths, cvc_length in _BRANDS:
        for low, high in ranges:
            head = number[: len(low)]
            if low <= head <= high:
                return brand, lengths, cvc_length
    return None


def card_fingerprint(number: str) -> str:
    key = f"card:{settings.LEDGERLINE_FINGERPRINT_SECRET}".encode()
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def card_validate(*, number: str, exp_month: int, exp_year: int, cvc: str, today: date) -> CardSummary:
    """Checks a card the way a provider would before it is ever sent; raises ``InvalidRequestError``."""
    number = number.replace(" ", "").replace("-", "")
    if not _DIGITS.match(number) or not luhn_valid(number):
        raise InvalidRequestError(
            "The card number is not a valid card number.", code="invalid_number", param=f"{_PARAM}[number]"
        )
    found = card_brand(number)
    if found is None:
        raise InvalidRequestError(
            "This card brand is not supported.", code="card_brand_unsupported", param=f"{_PARAM}[number]"
        )
    brand, lengths, cvc_length = found
    if len(number) not in lengths:
        raise InvalidRequestError(
            "The card number has the wrong length for its brand.", code="invalid_number", param=f"{_PARAM}[number]"
        )
    if not 1 <= exp_month <= 12:
        raise InvalidRequestError(
            "The card's expiration month is invalid.", code="invalid_expiry_month", param=f"{_PARAM}[exp_month]"
        )
    if exp_year < 100:
        exp_year += 2000
    if (exp_year, exp_month) < (today.year, today.month):
        raise InvalidRequestError("The card has expired.", code="expired_card", param=f"{_PARAM}[exp_year]")
    if exp_year > today.year + 20:
        raise InvalidRequestError(
            "The card's expiration year is invalid.", code="invalid_expiry_year", param=f"{_PARAM}[exp_year]"
        )
    if not (cvc.isdigit() and len(cvc) == cvc_length):
        raise InvalidRequestError(
            f"The card's security code must be {cvc_length} digits.", code="invalid_cvc", param=f"{_PARAM}[cvc]"
        )
    return CardSummary(
        brand=brand.value,
        last4=number[-4:],
        fingerprint=card_fingerprint(number),
        exp_month=exp_month,
        exp_year=exp_year,
    )


# Stripe's published test payment methods, so integrations written from Stripe's docs work unchanged in test mode:
# each is the sandbox's test card with the same behaviour (sandbox/README.md, "Test cards"), as (number, cvc).
TEST_PAYMENT_METHODS: dict[str, tuple[str, str]] = {
    "pm_card_visa": ("4242424242424242", "123"),
    "pm_card_visa_debit": ("4000056655665556", "123"),
    "pm_card_mastercard": ("5555555555554444", "123"),
    "pm_card_amex": ("378282246310005", "1234"),
    "pm_card_discover": ("6011111111111117", "123"),
    "pm_card_chargeDeclined": ("4000000000000002", "123"),
    "pm_card_chargeDeclinedInsufficientFunds": ("4000000000009995", "123"),
    "pm_card_chargeDeclinedExpiredCard": ("4000000000000069", "123"),
    "pm_card_chargeDeclinedIncorrectCvc": ("4000000000000127", "123"),
    "pm_card_chargeDeclinedProcessingError": ("4000000000000119", "123"),
    "pm_card_createDispute": ("4000000000000259", "123"),
}
