"""Random sequences of postings, reversals, replays and refused postings keep every invariant of the ledger."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from ledger import accounts
from ledger.balances import balance
from ledger.exceptions import InsufficientFundsError, InvalidPostingError, LedgerConflictError
from ledger.models import JournalEntry, JournalTransaction
from ledger.money import Money
from ledger.posting import Leg, credit, debit, post, reverse
from ledger.verification import verify_ledger

ACCOUNTS = [
    accounts.merchant_available("m1", "usd"),
    accounts.merchant_available("m2", "usd"),
    accounts.merchant_pending("m1", "usd"),
    accounts.psp_receivable("sandbox", "usd"),
    accounts.bank_cash("usd"),
    accounts.merchant_available("m1", "eur"),
    accounts.bank_cash("eur"),
]
BY_CURRENCY = {currency: [a for a in ACCOUNTS if a.currency == currency] for currency in ("usd", "eur")}

amounts = st.integers(min_value=1, max_value=5_000)


class LedgerMachine(RuleBasedStateMachine):
    posted = Bundle("posted")

    def __init__(self) -> None:
        super().__init__()
        # Every example starts from an empty journal: the whole run is rolled back at teardown.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.expected: dict[str, int] = {a.code: 0 for a in ACCOUNTS}
        self.legs_of: dict[str, list[Leg]] = {}
        self.reversed: set[str] = set()
        self.count = 0

    def teardown(self) -> None:
        report = verify_ledger()
        self.atomic.__exit__(RuntimeError, RuntimeError("roll back"), None)
        assert report.ok, report.violations

    def _apply(self, legs: list[Leg]) -> None:
        for leg in legs:
            grows = (leg.direction == "debit") == leg.account.debit_normal
            self.expected[leg.account.code] += leg.money.amount if grows else -leg.money.amount

    def _would_overdraw(self, legs: list[Leg]) -> bool:
        after = dict(self.expected)
        for leg in legs:
            grows = (leg.direction == "debit") == leg.account.debit_normal
            after[leg.account.code] += leg.money.amount if grows else -leg.money.amount
            if leg.account.non_negative and after[leg.account.code] < 0:
                return True
        return False

    def _post_expecting(self, reference: str, legs: list[Leg]) -> JournalTransaction | None:
        size = (JournalTransaction.objects.count(), JournalEntry.objects.count())
        if self._would_overdraw(legs):
            with pytest.raises(InsufficientFundsError):
                post(reference=reference, entries=legs)
            assert (JournalTransaction.objects.count(), JournalEntry.objects.count()) == size
            return None
        txn = post(reference=reference, entries=legs)
        self._apply(legs)
        self.legs_of[txn.id] = legs
        return txn

    @rule(target=posted, currency=st.sampled_from(["usd", "eur"]), data=st.data())
    def transfer(self, currency: str, data: st.DataObject) -> str:
        source, target = data.draw(st.permutations(BY_CURRENCY[currency]))[:2]
        amount = Money(data.draw(amounts), currency)
        self.count += 1
        txn = self._post_expecting(f"t{self.count}", [debit(source, amount), credit(target, amount)])
        return txn.id if txn else ""

    @rule(txn_id=posted)
    def reverse_one(self, txn_id: str) -> None:
        if not txn_id or txn_id in self.reversed:
            return
        original = JournalTransaction.objects.get(pk=txn_id)
        legs = [
            Leg(leg.account, "credit" if leg.direction == "debit" else "debit", leg.money)
            for leg in self.legs_of[txn_id]
        ]
        if self._would_overdraw(legs):
            with pytest.raises(InsufficientFundsError):
                reverse(original)
            return
        reverse(original)
        self._apply(legs)
        self.reversed.add(txn_id)

    @rule(txn_id=posted)
    def replay(self, txn_id: str) -> None:
        if not txn_id:
            return
        original = JournalTransaction.objects.get(pk=txn_id)
        size = JournalEntry.objects.count()
        assert post(reference=original.reference, entries=self.legs_of[txn_id]).id == txn_id
        changed = [
            Leg(leg.account, leg.direction, Money(leg.money.amount + 1, leg.money.currency))
            for leg in self.legs_of[txn_id]
        ]
        with pytest.raises(LedgerConflictError):
            post(reference=original.reference, entries=changed)
        assert JournalEntry.objects.count() == size

    @rule(amount=amounts, skew=st.integers(min_value=-3, max_value=3).filter(bool))
    def refused_unbalanced(self, amount: int, skew: int) -> None:
        size = JournalEntry.objects.count()
        legs = [debit(ACCOUNTS[3], Money(amount, "usd")), credit(ACCOUNTS[2], Money(max(1, amount + skew), "usd"))]
        if legs[0].money == legs[1].money:
            return
        with pytest.raises(InvalidPostingError):
            post(reference="never", entries=legs)
        assert JournalEntry.objects.count() == size

    @invariant()
    def balances_match_the_model_and_flags_hold(self) -> None:
        for spec in ACCOUNTS:
            amount = balance(spec).amount
            assert amount == self.expected[spec.code]
            if spec.non_negative:
                assert amount >= 0

    @invariant()
    def every_currency_sums_to_zero(self) -> None:
        for currency, specs in BY_CURRENCY.items():
            signed = sum(self.expected[s.code] * (1 if s.debit_normal else -1) for s in specs)
            assert signed == 0, currency


@pytest.mark.django_db
def test_random_histories_keep_every_invariant():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
