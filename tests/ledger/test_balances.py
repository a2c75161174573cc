from __future__ import annotations

import time

import pytest
from django.utils import timezone

from ledger import accounts
from ledger.balances import balance, merchant_balances
from ledger.money import Money
from ledger.posting import credit, debit, post
from tests.ledger.conftest import available, fund, pending, usd

pytestmark = pytest.mark.django_db

BANK = accounts.bank_cash("usd")


def test_an_account_never_posted_to_has_zero_balance():
    assert balance(available("nobody")) == usd(0)


def test_balance_is_one_query(django_assert_num_queries):
    fund("m1", 500)
    account = accounts.account_get(available("m1").code)
    with django_assert_num_queries(1):
        assert balance(account) == usd(500)
    with django_assert_num_queries(1):
        assert balance(available("m1")) == usd(500)


def test_balance_as_of_a_past_instant():
    fund("m1", 1000)
    between = timezone.now()
    time.sleep(0.002)
    post(reference="payout:po_1", entries=[debit(available("m1"), usd(300)), credit(BANK, usd(300))])

    assert balance(available("m1"), as_of=between) == usd(1000)
    assert balance(available("m1")) == usd(700)
    assert balance(available("m1"), as_of=timezone.now()) == usd(700)
    assert balance(available("m1"), as_of=between.replace(year=2000)) == usd(0)


def test_merchant_balances_in_every_currency(django_assert_num_queries):
    fund("m1", 1000)
    post(
        reference="capture-eur",
        entries=[
            debit(accounts.psp_receivable("sandbox", "eur"), Money(70, "eur")),
            credit(accounts.merchant_pending("m1", "eur"), Money(70, "eur")),
        ],
    )
    post(
        reference="capture-usd",
        entries=[debit(accounts.psp_receivable("sandbox", "usd"), usd(30)), credit(pending("m1"), usd(30))],
    )

    with django_assert_num_queries(1):
        balances = merchant_balances("m1")

    assert balances.available == [usd(1000)]
    assert balances.pending == [Money(70, "eur"), usd(30)]
