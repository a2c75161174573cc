"""Money rules the database itself enforces, whatever code writes the row."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from payments.models import Payment
from payments.services.merchants import merchant_create
from payments.services.payments import payment_create
from tests.payments.services.helpers import card

pytestmark = pytest.mark.django_db


@pytest.fixture
def payment() -> Payment:
    merchant, _ = merchant_create(name="Acme", email="ops@acme.test")
    return payment_create(merchant=merchant, livemode=False, amount=2000, currency="usd", payment_method=card())


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 0},
        {"amount": -5},
        {"amount_captured": 2001},
        {"amount_captured": -1},
        {"amount_captured": 1000, "amount_refunded": 1001},
        {"currency": "USD"},
        {"currency": "us"},
        {"status": "paid"},
        {"card_last4": "42a2"},
    ],
)
def test_the_database_refuses_impossible_money(payment: Payment, change: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(**change)


def test_refunds_up_to_what_was_captured_are_accepted(payment: Payment) -> None:
    Payment.objects.filter(pk=payment.pk).update(amount_captured=2000, amount_refunded=2000)
