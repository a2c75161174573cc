from __future__ import annotations

from datetime import date

from payments.cards import card_validate
from payments.services.payments import CardPaymentMethod

VISA = "4242424242424242"


def card(number: str = VISA) -> CardPaymentMethod:
    return CardPaymentMethod(
        card=card_validate(number=number, exp_month=12, exp_year=2039, cvc="123", today=date(2026, 1, 1))
    )
