from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.db.models.fields.json import KT

from ledger import recipes
from ledger.models import JournalTransaction
from ledger.money import Money
from ledger.verification import verify_ledger
from payments.enums import AttemptOutcome, PaymentStatus
from payments.models import PaymentAttempt
from payments.services.merchants import merchant_create
from reconciliation.enums import DiscrepancyStatus, Resolution
from reconciliation.models import Discrepancy, DiscrepancyResolution
from tests.conftest import owner_connection
from tests.reconciliation.conftest import CAPTURED_AT, DAY, Day, Line, found, reconcile, settlement_csv


def test_a_clean_day_matches_every_line_posts_each_settlement_and_finds_nothing(day: Day) -> None:
    charges = [day.capture(amount) for amount in (1000, 2500, 99_999)]
    day.refund(charges[0], 400)

    run = reconcile(settlement_csv(day.lines))

    assert (run.lines, run.matched, run.unmatched, run.new_discrepancies, run.posted) == (4, 4, 0, 0, 4)
    (usd,) = run.totals.all()
    assert (usd.currency, usd.settlement_gross) == ("usd", 1000 + 2500 + 99_999 - 400)
    assert usd.ledger_gross == usd.matched_gross == usd.settlement_gross
    assert found() == set()
    assert JournalTransaction.objects.filter(source_type="settlement").count() == 4
    assert verify_ledger().ok


def test_each_discrepancy_class_is_classified_exactly(day: Day) -> None:
    clean = day.capture()
    amount = day.capture()
    fee = day.capture()
    currency = day.capture()
    duplicated = day.capture()
    failed = day.capture(status=PaymentStatus.FAILED)
    late = day.capture(method="upi", status=PaymentStatus.FAILED, rrn="501234567890")
    netted = day.refund(clean, 300, record=False)
    short = day.refund(clean, 200)
    unrecorded = day.capture(ledger=False)
    lines = [
        clean,
        replace(amount, gross=amount.gross + 100),
        replace(fee, fee=fee.fee + 1),
        replace(currency, currency="eur"),
        duplicated,
        duplicated,
        failed,
        late,
        netted,
        replace(short, gross=-150),
        unrecorded,
        Line("charge", "ch_unknown_1", "", 1000, 0),
    ]

    run = reconcile(settlement_csv(lines))

    assert found(run) == {
        ("amount_mismatch", f"charge:{amount.provider_reference}"),
        ("fee_mismatch", f"charge:{fee.provider_reference}"),
        ("currency_mismatch", f"charge:{currency.provider_reference}"),
        ("duplicate", f"charge:{duplicated.provider_reference}:{run.file_id}:7"),
        ("status_mismatch", f"charge:{failed.provider_reference}"),
        ("late_success", f"charge:{late.provider_reference}"),
        ("refund_netting", f"refund:{netted.provider_reference}"),
        ("amount_mismatch", f"refund:{short.provider_reference}"),
        ("missing_in_ledger", f"charge:{unrecorded.provider_reference}"),
        ("missing_in_ledger", "charge:ch_unknown_1"),
    }
    assert (run.lines, run.matched, run.unmatched) == (12, 2, 10)
    assert run.posted == 2  # the clean charge and the first copy of the duplicated one


def test_upi_lines_match_on_the_rrn_when_the_provider_reference_is_not_ours(day: Day) -> None:
    upi = day.capture(method="upi", rrn="509876543210")
    run = reconcile(settlement_csv([replace(upi, provider_reference="upi_other", our_reference="")]))
    assert found(run) == set()
    assert run.matched == 1


def test_a_upi_line_found_by_its_rrn_is_matched_once_though_its_payment_was_tried_twice(day: Day) -> None:
    """The RRN is the payment's: a payment whose first attempt the provider declined and whose second it paid has
    two authorizations with it. The line is the paid one's; joined to both, it was classified twice (a one-line file
    counted two lines) and a fee mismatch was opened against the declined attempt."""
    upi = day.capture(method="upi", rrn="509876543211", fee=320)
    paid = PaymentAttempt.objects.get(provider_reference=upi.provider_reference)
    PaymentAttempt.objects.create(
        payment_id=paid.payment_id,
        merchant=day.merchant,
        livemode=False,
        amount=paid.amount,
        connector=paid.connector,
        provider_reference="upi_declined_first",
        outcome=AttemptOutcome.FAILED,
        fee=0,
    )

    run = reconcile(settlement_csv([replace(upi, provider_reference="upi_other", our_reference="")]))

    assert found(run) == set()
    assert (run.lines, run.matched, run.posted) == (1, 1, 1)


def test_a_charge_missing_from_its_batch_is_timing_and_clears_itself_when_it_arrives(day: Day) -> None:
    early = day.capture()
    late = day.capture()

    first = reconcile(settlement_csv([early]))
    assert found(first) == {("timing", late_payment_id(late))}

    second = reconcile(settlement_csv([late], DAY + timedelta(days=1)), day=DAY + timedelta(days=1))
    timing = Discrepancy.objects.get(kind="timing")
    assert (timing.status, timing.resolution) == (DiscrepancyStatus.RESOLVED, Resolution.AUTO_CLEARED)
    assert DiscrepancyResolution.objects.filter(discrepancy=timing, action=Resolution.AUTO_CLEARED).count() == 1
    assert second.new_discrepancies == 0
    assert second.matched == 1


def test_a_capture_never_settled_past_the_delay_is_missing_at_provider(day: Day) -> None:
    stale = day.capture(at=CAPTURED_AT - timedelta(days=2))
    day.lines.remove(stale)
    recent = day.capture()

    run = reconcile(settlement_csv([recent]))

    assert found(run) == {("missing_at_provider", late_payment_id(stale))}


def test_reconciling_the_same_day_again_changes_neither_ledger_nor_queue(day: Day) -> None:
    day.capture()
    broken = day.capture()
    content = settlement_csv([day.lines[0], replace(broken, gross=broken.gross + 5)])
    first = reconcile(content)
    journal = JournalTransaction.objects.count()
    queue = found()

    again = reconcile(content)

    assert again.file_id == first.file_id
    assert (again.new_discrepancies, again.posted) == (0, 0)
    assert JournalTransaction.objects.count() == journal
    assert found() == queue
    assert verify_ledger().ok


def late_payment_id(line: Line) -> str:
    from payments.models import PaymentAttempt

    return PaymentAttempt.objects.get(provider_reference=line.provider_reference).payment_id


def test_a_line_an_earlier_file_settled_is_a_duplicate_in_a_later_one(day: Day) -> None:
    first, second = day.capture(), day.capture()
    earlier = reconcile(settlement_csv([first]))

    later = reconcile(settlement_csv([first, second], DAY + timedelta(days=1)), day=DAY + timedelta(days=1))

    assert {kind for kind, _ in found(earlier)} == {"timing"}  # the second: captured that day, settled the next
    # Line 2 of the later file (after the header) repeats what the earlier file settled; line 3 is new.
    assert found(later) == {("duplicate", f"charge:{first.provider_reference}:{later.file_id}:2")}
    assert (later.lines, later.matched, later.posted) == (2, 1, 1)


def test_matching_refreshes_the_lines_statistics_though_the_application_owns_no_table(day: Day) -> None:
    """The matching plans its joins from the statistics of the lines just loaded. ANALYZE is the table owner's, and
    the suite runs as the application's role, as production does: run directly, PostgreSQL skipped it with a warning
    and the planner kept its old row count (reconciliation migration 0009)."""
    for amount in (1000, 2500, 4000, 99_999):
        day.capture(amount)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user <> tableowner FROM pg_tables WHERE tablename = 'reconciliation_settlementline'"
        )
        assert cursor.fetchone()[0], "the suite must run as a role that does not own the table"

        reconcile(settlement_csv(day.lines))

        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'reconciliation_settlementline'")
        assert cursor.fetchone()[0] == 4


@pytest.mark.django_db(transaction=True)
def test_the_planner_knows_a_connectors_journal_transactions_and_how_many_references_they_have() -> None:
    """Every ledger side of the matching is selected by ``metadata -> 'connector'`` and joined by
    ``metadata ->> 'provider_reference'``. With no statistics on them PostgreSQL guesses one row in two hundred and
    200 distinct values, and planned the joins to a connector's refunds and chargebacks as nested loops over the
    file's lines: 99 s to match 100,000 lines. Ledger migration 0005 gives it statistics on both; its estimates must
    then be of the right size. The journal is analysed as in production: committed, by the owner (autovacuum)."""
    merchant, _ = merchant_create(name="Acme", email="acme@example.test")
    for n in range(150):
        recipes.payment_captured(
            merchant_id=merchant.pk,
            connector="card_a" if n < 120 else "upi_a",
            payment_id=f"pay_plan_{n}",
            gross=Money(1_000, "usd"),
            fee=Money(30, "usd"),
            occurred_at=CAPTURED_AT,
            available_on=CAPTURED_AT,
            provider_reference=f"ch_plan_{n % 30}",  # 30 references, five transactions each
        )
    with owner_connection() as owner:
        owner.execute("ANALYZE ledger_journaltransaction")
    of_connector = JournalTransaction.objects.filter(metadata__connector="card_a")
    references = JournalTransaction.objects.values_list(KT("metadata__provider_reference")).order_by().distinct()
    with connection.cursor() as cursor:
        rows = estimated(cursor, of_connector)
        distinct = estimated(cursor, references)
    assert of_connector.count() == 120
    assert 60 <= rows <= 240, f"the planner expects {rows} of the connector's 120 transactions"
    assert references.count() == 30
    assert 15 <= distinct <= 60, f"the planner expects {distinct} distinct references of 30"


def estimated(cursor: Any, queryset: QuerySet[Any]) -> float:
    """The rows PostgreSQL's planner expects the query to return."""
    sql, params = queryset.query.sql_with_params()
    cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
    plan = cursor.fetchone()[0]
    return float((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])
