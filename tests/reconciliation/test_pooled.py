"""Behind a transaction pooler (``DATABASE_TRANSACTION_POOLING``) consecutive transactions may run on different
server sessions: the matching's temporary table must not outlive the classification's transaction, and the postings,
which commit after it, must still all happen."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from ledger.models import JournalTransaction
from ledger.verification import verify_ledger
from reconciliation.services import matching
from tests.reconciliation.conftest import Day, found, reconcile, settlement_csv

pytestmark = pytest.mark.django_db(transaction=True)


def _temporary_table_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pg_temp.recon_classified') IS NOT NULL")
        return bool(cursor.fetchone()[0])


def test_a_pooled_run_drops_its_table_at_commit_and_still_posts_every_match(
    day: Day, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DATABASE_POOLED = {"default"}
    charges = [day.capture(amount) for amount in (1000, 2500)]
    day.refund(charges[0], 400)
    table_at_posting: list[bool] = []
    original = matching._matched_postings

    def spy(*args: Any) -> Any:
        # Called once the classification has committed, when the postings start: the table must be gone by then.
        table_at_posting.append(_temporary_table_exists())
        return original(*args)

    monkeypatch.setattr(matching, "_matched_postings", spy)
    run = reconcile(settlement_csv(day.lines))

    assert table_at_posting == [False]
    assert (run.lines, run.matched, run.new_discrepancies, run.posted) == (3, 3, 0, 3)
    assert found() == set()
    assert JournalTransaction.objects.filter(source_type="settlement").count() == 3
    assert verify_ledger().ok
