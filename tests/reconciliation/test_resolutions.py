from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ledger import accounts
from ledger.balances import balance
from ledger.verification import verify_ledger
from payments.enums import PaymentStatus
from reconciliation.enums import DiscrepancyStatus, Resolution
from reconciliation.exceptions import ResolutionError
from reconciliation.models import Discrepancy, DiscrepancyResolution
from reconciliation.services.resolutions import discrepancy_resolve
from tests.reconciliation.conftest import Day, Line, found, reconcile, settlement_csv


def _receivable() -> int:
    return balance(accounts.psp_receivable("card_a", "usd")).amount


def test_writing_off_every_kind_leaves_the_receivable_settled_and_a_second_run_clean(
    day: Day, finance_user: Any
) -> None:
    amount = day.capture(10_000)
    unrecorded = day.capture(ledger=False)
    fee = day.capture()
    day.capture()  # never settled: timing
    content = settlement_csv(
        [replace(amount, gross=10_100), unrecorded, replace(fee, fee=fee.fee + 7), Line("charge", "ch_x", "", 5, 0)]
    )
    first = reconcile(content)
    assert {kind for kind, _ in found(first)} == {"amount_mismatch", "missing_in_ledger", "fee_mismatch", "timing"}

    for discrepancy in Discrepancy.objects.all():
        discrepancy_resolve(
            discrepancy_id=discrepancy.pk, action=Resolution.WRITTEN_OFF, user=finance_user, reason="checked"
        )

    assert _receivable() == 0
    assert DiscrepancyResolution.objects.filter(action=Resolution.WRITTEN_OFF, actor="fin").count() == 5
    second = reconcile(content)
    assert second.new_discrepancies == 0
    assert not Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN).exists()
    assert verify_ledger().ok


def test_a_late_success_can_be_marked_refunded_and_nothing_else_can(day: Day, finance_user: Any) -> None:
    late = day.capture(method="upi", status=PaymentStatus.FAILED, rrn="501111111111")
    stranger = Line("charge", "ch_stranger", "", 700, 0)
    reconcile(settlement_csv([late, stranger]))
    late_one = Discrepancy.objects.get(kind="late_success")
    other = Discrepancy.objects.get(kind="missing_in_ledger")

    with pytest.raises(ResolutionError):
        discrepancy_resolve(discrepancy_id=other.pk, action=Resolution.REFUNDED, user=finance_user, reason="x")
    with pytest.raises(ResolutionError):
        discrepancy_resolve(discrepancy_id=late_one.pk, action=Resolution.REFUNDED, user=finance_user, reason=" ")
    resolved = discrepancy_resolve(
        discrepancy_id=late_one.pk, action=Resolution.REFUNDED, user=finance_user, reason="sent back"
    )

    assert (resolved.status, resolved.resolution) == (DiscrepancyStatus.RESOLVED, Resolution.REFUNDED)
    assert "adjustment:discrepancy" in resolved.resolutions.get().journal_reference
    with pytest.raises(ResolutionError):
        discrepancy_resolve(
            discrepancy_id=late_one.pk, action=Resolution.WRITTEN_OFF, user=finance_user, reason="again"
        )
    assert verify_ledger().ok
