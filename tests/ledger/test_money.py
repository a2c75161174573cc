import pytest

from ledger.exceptions import CurrencyMismatchError, InvalidAmountError
from ledger.money import Money


def test_arithmetic_in_one_currency():
    assert Money(150, "usd") + Money(50, "usd") == Money(200, "usd")
    assert Money(150, "usd") - Money(200, "usd") == Money(-50, "usd")
    assert -Money(5, "inr") == Money(-5, "inr")
    assert Money(1, "usd") < Money(2, "usd")
    assert Money.zero("eur") == Money(0, "eur")


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a >= b,
    ],
)
def test_mixed_currencies_are_refused(operation):
    with pytest.raises(CurrencyMismatchError):
        operation(Money(1, "usd"), Money(1, "eur"))


@pytest.mark.parametrize("amount", [1.5, 1.0, "100", True, None])
def test_only_integer_minor_units(amount):
    with pytest.raises(InvalidAmountError):
        Money(amount, "usd")


@pytest.mark.parametrize("currency", ["USD", "us", "usdd", "u$d", "", 840])
def test_currency_is_three_lower_case_letters(currency):
    with pytest.raises(InvalidAmountError):
        Money(1, currency)


def test_money_is_immutable():
    money = Money(1, "usd")
    with pytest.raises(AttributeError):
        money.amount = 2  # type: ignore[misc]
