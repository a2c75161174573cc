"""Property: random days of traffic, settled by the sandbox's own settlement renderer with random settlement faults.

Every fault ends up in exactly one open discrepancy of its class (a clean day in none), a line that settles a day
late clears itself, and resolving everything leaves the provider receivable at zero with ``verify_ledger`` (and its
business invariants) passing. The provider's files come from ``sandbox.settlement.render`` with the sandbox's
settlement faults, in process (its store in memory), so the files are exactly what the sandbox would serve.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import accounts, recipes
from ledger.balances import balance
from ledger.verification import verify_ledger
from payments.enums import PaymentStatus
from payments.models import Merchant
from payments.services.merchants import merchant_create
from reconciliation.enums import DiscrepancyStatus
from reconciliation.models import Discrepancy
from sandbox import settlement
from sandbox.config import Tunables
from sandbox.store import Store
from tests.reconciliation.conftest import CAPTURED_AT, DAY, Day, Line, payment_of, reconcile, resolve_all

EXAMPLES = int(os.environ.get("LEDGERLINE_RECON_EXAMPLES", "12"))
LINE_FAULTS = ("drop_line", "alter_amount", "alter_fee", "duplicate_line", "settle_late")
_CLASS = {"alter_amount": "amount_mismatch", "alter_fee": "fee_mismatch", "duplicate_line": "duplicate"}


@dataclass
class _Provider:
    """What ``sandbox.settlement`` needs of a sandbox: its store, tunables and settlement faults."""

    store: Store = field(default_factory=Store)
    tunables: Tunables = field(default_factory=Tunables)
    settlement_faults: list[dict[str, Any]] = field(default_factory=list)

    def settle(self, line: Line) -> None:
        settlement.add_item(
            self,  # type: ignore[arg-type] - duck-typed: only store and tunables are read
            provider="card_a",
            type_=line.type,
            provider_reference=line.provider_reference,
            our_reference=line.our_reference,
            currency=line.currency,
            gross=line.gross,
            fee=line.fee,
            transaction_at=line.transaction_date.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            rrn=line.rrn,
            original_provider_reference=line.original,
        )

    def file(self, day: Any) -> bytes:
        return "".join(settlement.render(self, "card_a", day)).encode()  # type: ignore[arg-type]


def _fact(line: Line) -> str:
    """The key a payment-side discrepancy (timing) of the line's fact has."""
    if line.type == "charge":
        return payment_of(line)
    if line.type == "refund":
        from payments.models import PaymentAttempt

        return f"refund:{PaymentAttempt.objects.get(pk=line.our_reference).refund_id}"
    return f"{line.type}:{line.our_reference}"


traffic = st.lists(
    st.tuples(
        st.integers(min_value=2_000, max_value=50_000),  # the charge
        st.sampled_from(["card", "upi"]),  # USD card or INR UPI: two currencies, two receivables
        st.sampled_from(["none", "refund", "chargeback", "won"]),  # what follows it
        st.integers(min_value=101, max_value=1_000),  # a refund's amount
    ),
    min_size=1,
    max_size=5,
)
# UPI payments we marked failed that the provider settled anyway, with or without their capture in our ledger.
late_successes = st.lists(st.booleans(), max_size=2)
_rrns = itertools.count(501_000_000_000)


@pytest.mark.django_db
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traffic=traffic, late=late_successes, faults=st.data(), unknown=st.booleans())
def test_every_settlement_fault_is_one_open_discrepancy_and_resolving_all_settles_the_receivable(
    traffic: list[tuple[int, str, str, int]], late: list[bool], faults: st.DataObject, unknown: bool
) -> None:
    with transaction.atomic():
        merchant: Merchant = merchant_create(name="Acme", email="acme@example.test")[0]
        day = Day(merchant)
        for amount, method, follow_up, refund in traffic:
            charge = day.capture(amount, method=method, rrn=str(next(_rrns)) if method == "upi" else "")
            if follow_up == "refund":
                day.refund(charge, refund)
            elif follow_up in ("chargeback", "won"):
                chargeback = day.chargeback(charge, amount)
                if follow_up == "won":
                    recipes.dispute_won(
                        dispute_id=chargeback.our_reference, occurred_at=CAPTURED_AT + timedelta(hours=3)
                    )
                    day.lines.append(replace(chargeback, type="chargeback_reversal", gross=amount))
        provider = _Provider()
        expected: set[tuple[str, str]] = set()
        settles_late: set[tuple[str, str]] = set()
        for recorded in late:
            line = day.capture(40_000, method="upi", status=PaymentStatus.FAILED, rrn=str(next(_rrns)), ledger=recorded)
            provider.settle(line)  # a late success is a fact of the day, not a fault: no fault on top of it
            expected.add(("late_success", f"charge:{line.provider_reference}"))
        # A fault targets a provider reference, which a chargeback shares with its reversal: one fault per
        # reference, expected on every line of it.
        by_reference: dict[str, list[Line]] = {}
        for line in day.lines:
            if ("late_success", f"charge:{line.provider_reference}") in expected:
                continue
            provider.settle(line)
            by_reference.setdefault(line.provider_reference, []).append(line)
        for reference, lines in by_reference.items():
            mode = faults.draw(st.sampled_from([None, *LINE_FAULTS]), label=reference)
            if mode is None:
                continue
            provider.settlement_faults.append(
                {"provider": "card_a", "date": DAY.isoformat(), "mode": mode, "reference": reference}
            )
            for line in lines:
                if mode in ("drop_line", "settle_late"):
                    (settles_late if mode == "settle_late" else expected).add(("timing", _fact(line)))
                else:
                    expected.add((_CLASS[mode], f"{line.type}:{line.provider_reference}"))
        if unknown:
            provider.settlement_faults.append({"provider": "card_a", "date": DAY.isoformat(), "mode": "unknown_charge"})
            expected.add(("missing_in_ledger", f"charge:ch_unknown_{DAY:%Y%m%d}_1"))

        reconcile(provider.file(DAY))
        assert _open() == expected | settles_late

        reconcile(provider.file(DAY + timedelta(days=1)), day=DAY + timedelta(days=1))
        assert _open() == expected  # what settled a day late cleared itself

        resolve_all()
        for currency in ("usd", "inr"):
            assert balance(accounts.psp_receivable("card_a", currency)).amount == 0, currency
        report = verify_ledger()
        assert report.ok, report.violations
        transaction.set_rollback(True)  # the next example starts from an empty day


def _open() -> set[tuple[str, str]]:
    found = set()
    for kind, key in Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN).values_list("kind", "key"):
        # A duplicate's key names the file and line of the copy; the fact is the line's type and reference.
        found.add((kind, key.rsplit(":", 2)[0] if kind == "duplicate" else key))
    return found
