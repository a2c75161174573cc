"""The outside probe's findings (issue 20): each difference found once, in the right class, corrected once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from openpyxl import load_workbook

from ledger import accounts, recipes
from ledger.balances import balance
from ledger.models import JournalTransaction
from ledger.verification import verify_ledger
from payments.enums import PaymentStatus
from reconciliation.enums import DiscrepancyStatus, Resolution
from reconciliation.models import Discrepancy
from reconciliation.reports import report_rows, report_xlsx
from tests.reconciliation.conftest import (
    CAPTURED_AT,
    DAY,
    Day,
    Line,
    found,
    payment_of,
    reconcile,
    resolve_all,
    settlement_csv,
)


def _receivable(currency: str = "usd") -> int:
    return balance(accounts.psp_receivable("card_a", currency)).amount


def _suspense(currency: str = "usd") -> int:
    return balance(accounts.suspense(currency)).amount


def test_resolving_a_late_success_whose_capture_the_ledger_holds_adjusts_nothing(day: Day) -> None:
    late = day.capture(40_000, method="upi", status=PaymentStatus.FAILED, rrn="501111111112", ledger=True)
    reconcile(settlement_csv([late]))
    assert {kind for kind, _ in found()} == {"late_success"}

    resolve_all(Resolution.FULFILLED)

    assert (_receivable("inr"), _suspense("inr")) == (0, 0)
    assert verify_ledger().ok


def test_a_capture_never_settled_is_one_discrepancy_that_turns_from_timing_to_missing_and_is_written_off_once(
    day: Day,
) -> None:
    lost = day.capture(1_111)
    day.lines.remove(lost)
    reconcile(settlement_csv([]))
    assert found() == {("timing", payment_of(lost))}

    for later in (1, 2, 3):
        reconcile(settlement_csv([], DAY + timedelta(days=later)), day=DAY + timedelta(days=later))

    assert found() == {("missing_at_provider", payment_of(lost))}
    resolve_all()
    assert (_receivable(), _suspense()) == (0, -1_111)
    assert verify_ledger().ok


def test_a_timing_written_off_is_not_found_again_as_missing(day: Day) -> None:
    lost = day.capture(1_111)
    day.lines.remove(lost)
    reconcile(settlement_csv([]))
    resolve_all()

    for later in (1, 2, 3):
        reconcile(settlement_csv([], DAY + timedelta(days=later)), day=DAY + timedelta(days=later))

    assert Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN).count() == 0
    assert (_receivable(), _suspense()) == (0, -1_111)


def test_a_refund_settled_short_resolves_by_the_difference(day: Day) -> None:
    charge = day.capture(10_000)
    refund = day.refund(charge, 600)
    reconcile(settlement_csv([charge, replace(refund, gross=-500)]))
    mismatch = Discrepancy.objects.get()
    assert (mismatch.kind, mismatch.settlement_amount, mismatch.our_amount) == ("amount_mismatch", -500, -600)

    resolve_all()

    assert (_receivable(), _suspense()) == (0, 100)
    assert verify_ledger().ok


def test_header_only_files_of_other_days_and_connectors_are_files_of_their_own(day: Day) -> None:
    empty = settlement_csv([])
    first = reconcile(empty)
    other_day = reconcile(empty, day=DAY + timedelta(days=1))
    other_connector = reconcile(empty, connector="card_b")
    again = reconcile(empty)

    assert len({first.file_id, other_day.file_id, other_connector.file_id}) == 3
    assert again.file_id == first.file_id
    assert (other_day.file.settlement_date, other_connector.file.connector) == (DAY + timedelta(days=1), "card_b")


def test_refund_and_chargeback_lines_are_checked_for_amount_fee_and_currency(day: Day) -> None:
    charge = day.capture(10_000)
    disputed = day.capture(2_700)
    other = day.capture(5_000)
    fee = day.refund(charge, 600)
    currency = day.refund(other, 700)
    chargeback = day.chargeback(disputed, 2_700)
    clean = day.chargeback(other, 1_000)

    reconcile(
        settlement_csv(
            [
                charge,
                disputed,
                other,
                replace(fee, fee=5),
                replace(currency, currency="eur"),
                replace(chargeback, gross=-2_900),
                clean,
            ]
        )
    )

    assert found() == {
        ("fee_mismatch", f"refund:{fee.provider_reference}"),
        ("currency_mismatch", f"refund:{currency.provider_reference}"),
        ("amount_mismatch", f"chargeback:{chargeback.provider_reference}"),
    }
    resolve_all()
    assert _receivable() == 0
    assert verify_ledger().ok


def test_a_refund_or_chargeback_the_provider_never_settled_is_found_like_a_missing_capture(day: Day) -> None:
    charge = day.capture(10_000)
    disputed = day.capture(2_700)
    dropped = day.refund(charge, 500)
    unsettled = day.chargeback(disputed, 2_700)
    day.lines.remove(dropped)
    day.lines.remove(unsettled)

    reconcile(settlement_csv(day.lines))
    timing = {(d.kind, d.our_amount) for d in Discrepancy.objects.all()}
    assert timing == {("timing", -500), ("timing", -2_700)}
    for later in (1, 2):
        reconcile(settlement_csv([], DAY + timedelta(days=later)), day=DAY + timedelta(days=later))

    assert {d.kind for d in Discrepancy.objects.all()} == {"missing_at_provider"}
    resolve_all()
    assert (_receivable(), _suspense()) == (0, 3_200)
    assert verify_ledger().ok


def test_a_refund_settled_a_day_late_clears_its_timing(day: Day) -> None:
    charge = day.capture(10_000)
    late = day.refund(charge, 500)
    day.lines.remove(late)
    reconcile(settlement_csv(day.lines))
    assert {d.kind for d in Discrepancy.objects.all()} == {"timing"}

    reconcile(settlement_csv([late], DAY + timedelta(days=1)), day=DAY + timedelta(days=1))

    assert not Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN).exists()
    assert _receivable() == 0


def _settlements() -> list[str]:
    return sorted(JournalTransaction.objects.filter(source_type="settlement").values_list("reference", flat=True))


def _posted_for(line: Line, settlements: list[str]) -> list[str]:
    own = f"settlement:card_a:{line.type}:{line.provider_reference}"
    return [ref for ref in settlements if ref == own or ref.startswith(own + ":")]


def test_a_corrected_file_for_the_same_day_supersedes_the_first_and_nothing_settles_twice(day: Day) -> None:
    clean = day.capture(1_000)
    wrong = day.capture(2_000)
    dropped_later = day.capture(3_000)
    first = reconcile(settlement_csv([clean, replace(wrong, gross=2_100), dropped_later]))
    assert found() == {("amount_mismatch", f"charge:{wrong.provider_reference}")}
    posted_before = _settlements()

    corrected = reconcile(settlement_csv([clean, wrong]))

    assert corrected.file_id != first.file_id
    first.file.refresh_from_db()
    assert (first.file.status, first.file.superseded_by_id) == ("superseded", corrected.file_id)
    assert not Discrepancy.objects.filter(kind="duplicate").exists()
    open_now = {(d.kind, d.key) for d in Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN)}
    assert open_now == {("timing", payment_of(dropped_later))}  # the correction no longer settles it
    assert Discrepancy.objects.get(kind="amount_mismatch").resolution == Resolution.AUTO_CLEARED
    settlements = _settlements()
    assert set(posted_before) <= set(settlements)
    assert _posted_for(clean, settlements) == [f"settlement:card_a:charge:{clean.provider_reference}"]  # carried
    assert _posted_for(dropped_later, settlements) == [
        f"settlement:card_a:charge:{dropped_later.provider_reference}",
        f"settlement:card_a:charge:{dropped_later.provider_reference}:superseded",
    ]
    assert _posted_for(wrong, settlements) == [
        f"settlement:card_a:charge:{wrong.provider_reference}:f{corrected.file_id}"
    ]
    assert _receivable() == 3_000  # only the capture the corrected file no longer settles is still owed

    again = reconcile(settlement_csv([clean, wrong]))
    assert again.file_id == corrected.file_id
    assert _settlements() == settlements
    resolve_all()
    assert _receivable() == 0
    assert verify_ledger().ok


def test_run_totals_are_per_currency_and_the_ledger_side_comes_from_the_ledger(day: Day) -> None:
    card = day.capture(10_000)
    upi = day.capture(40_000, method="upi", rrn="501111111113")
    refund = day.refund(card, 600)
    run = reconcile(settlement_csv([card, upi, replace(refund, gross=-500)]))

    totals = {t.currency: (t.settlement_gross, t.matched_gross, t.ledger_gross) for t in run.totals.all()}

    assert totals == {"usd": (9_500, 10_000, 10_000), "inr": (40_000, 40_000, 40_000)}


def test_a_rerun_report_lists_what_is_open_for_the_day_and_a_resolved_day_reads_clean(day: Day) -> None:
    good = day.capture()
    bad = day.capture()
    content = settlement_csv([good, replace(bad, gross=bad.gross + 1)])
    reconcile(content)
    rerun = reconcile(content)
    assert rerun.new_discrepancies == 0

    rows = list(report_rows(rerun))
    assert ["day", "open", "open_discrepancies", 1] in rows
    assert any(row[:2] == ["amount_mismatch", "open"] for row in rows)

    resolve_all()
    resolved = list(report_rows(reconcile(content)))
    assert ["day", "clean", "open_discrepancies", 0] in resolved
    assert any(row[:3] == ["amount_mismatch", "resolved", "written_off"] for row in resolved)


def test_xlsx_amounts_are_numbers_in_the_currencys_units(day: Day) -> None:
    bad = day.capture(12_345)
    run = reconcile(settlement_csv([replace(bad, gross=12_350)]))

    sheet = load_workbook(report_xlsx(run)).active
    assert sheet is not None
    rows = [list(row) for row in sheet.iter_rows()]
    header = next(row for row in rows if row[0].value == "kind")
    mismatch = next(row for row in rows if row[0].value == "amount_mismatch")
    cells = {h.value: c for h, c in zip(header, mismatch, strict=False)}
    assert (cells["settlement_amount"].value, cells["our_amount"].value) == (123.5, 123.45)
    assert cells["settlement_amount"].number_format == "0.00"
    usd = next(row for row in rows if row[0].value == "usd")
    assert usd[3].value == 123.5  # settlement_gross, in dollars


def test_the_reversal_of_a_won_dispute_carries_the_connector_and_the_providers_reference(day: Day) -> None:
    charge = day.capture(2_700)
    chargeback = day.chargeback(charge, 2_700)

    won = recipes.dispute_won(dispute_id=chargeback.our_reference, occurred_at=CAPTURED_AT + timedelta(days=3))

    assert won.metadata["connector"] == "card_a"
    assert won.metadata["provider_reference"] == chargeback.provider_reference


def test_a_capture_written_off_as_unsettled_that_settles_later_is_not_counted_twice(day: Day) -> None:
    late = day.capture(1_111)
    day.lines.remove(late)
    reconcile(settlement_csv([]))
    resolve_all()
    assert (_receivable(), _suspense()) == (0, -1_111)

    reconcile(settlement_csv([late], DAY + timedelta(days=3)), day=DAY + timedelta(days=3))

    assert (_receivable(), _suspense()) == (0, 0)
    timing = Discrepancy.objects.get()
    assert timing.resolution == Resolution.AUTO_CLEARED
    assert [r.action for r in timing.resolutions.order_by("id")] == [Resolution.WRITTEN_OFF, Resolution.AUTO_CLEARED]
    reconcile(settlement_csv([late], DAY + timedelta(days=3)), day=DAY + timedelta(days=3))
    assert (_receivable(), _suspense()) == (0, 0)
    assert verify_ledger().ok


def test_a_chargeback_reversal_matches_only_a_dispute_our_ledger_recorded_as_won(day: Day) -> None:
    won_charge, open_charge = day.capture(2_700), day.capture(1_900)
    won, still_open = day.chargeback(won_charge, 2_700), day.chargeback(open_charge, 1_900)
    recipes.dispute_won(dispute_id=won.our_reference, occurred_at=CAPTURED_AT + timedelta(hours=3))
    reversals = [replace(line, type="chargeback_reversal", gross=-line.gross) for line in (won, still_open)]

    run = reconcile(settlement_csv([*day.lines, *reversals]))

    assert found(run) == {("missing_in_ledger", f"chargeback_reversal:{still_open.provider_reference}")}
    resolve_all()
    assert _receivable() == 0
    assert verify_ledger().ok
