"""verify_ledger recomputes everything; a row tampered with behind the triggers' back is caught."""

from __future__ import annotations

import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger import accounts, recipes
from ledger.models import JournalEntry
from ledger.tasks import verify_ledger_task
from ledger.verification import verify_ledger
from tests.ledger.conftest import NOW, available, force_deferred_checks, fund, pending, usd

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger():
    fund("m1", 1_000)
    fund("m2", 500)
    recipes.payout_created(merchant_id="m1", payout_id="po_1", amount=usd(400), occurred_at=NOW)
    recipes.payout_created(merchant_id="m1", payout_id="po_2", amount=usd(100), occurred_at=NOW)


def tamper(sql: str, *params: object) -> None:
    """Changes the journal the only way left: with the triggers switched off (rolled back with the test)."""
    force_deferred_checks()  # ALTER TABLE refuses to run while commit-time checks are queued
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE ledger_journalentry DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE ledger_journalentry ENABLE TRIGGER USER")


def entry(reference: str, code: str) -> JournalEntry:
    return JournalEntry.objects.get(transaction__reference=reference, account__code=code)


def test_a_consistent_ledger_verifies(ledger, capsys):
    report = verify_ledger()
    assert report.ok, report.violations
    assert (report.accounts, report.transactions, report.entries) == (6, 6, 12)

    call_command("verify_ledger")
    assert "12 entries: OK" in capsys.readouterr().out


def test_a_changed_amount_is_caught(ledger):
    target = entry("payout:po_1", available("m1").code)
    tamper("UPDATE ledger_journalentry SET amount = 40 WHERE id = %s", target.id)

    checks = {violation.check for violation in verify_ledger().violations}

    assert {"unbalanced_transaction", "running_balance", "ledger_total"} <= checks


def test_a_deleted_entry_is_caught_as_a_gap(ledger):
    target = entry("payout:po_1", available("m1").code)
    tamper("DELETE FROM ledger_journalentry WHERE id = %s", target.id)

    violations = verify_ledger().violations

    assert any(v.check == "running_balance" and "sequence 3 (expected 2)" in v.detail for v in violations)
    assert any(v.check == "unbalanced_transaction" for v in violations)


def test_a_forged_balance_is_caught(ledger):
    target = entry("payout:po_2", available("m1").code)
    tamper("UPDATE ledger_journalentry SET balance_after = 1000000 WHERE id = %s", target.id)

    assert [v.check for v in verify_ledger().violations] == ["running_balance"]


def test_a_payout_above_earnings_is_caught(ledger):
    bank = accounts.account_get(accounts.bank_cash("usd").code)
    target = entry("payout:po_2", available("m1").code)
    tamper("UPDATE ledger_journalentry SET amount = 700, balance_after = -100 WHERE id = %s", target.id)
    tamper(
        "UPDATE ledger_journalentry SET amount = 700, balance_after = -1100 WHERE transaction_id = %s"
        " AND account_id = %s",
        target.transaction_id,
        bank.id,
    )

    checks = {v.check for v in verify_ledger().violations}
    # Balanced and consistent, but the merchant was paid more than it earned, and the rows are not what was posted.
    assert checks == {"payout_exceeds_earnings", "unauthenticated_transaction"}


def test_a_negative_pending_balance_is_caught(ledger):
    target = entry("payment:pay_fund_m2_500:release", pending("m2").code)
    tamper("UPDATE ledger_journalentry SET balance_after = -1 WHERE id = %s", target.id)

    checks = {v.check for v in verify_ledger().violations}
    assert {"negative_balance", "merchant_pending_negative"} <= checks


def test_the_command_exits_non_zero_listing_each_violation(ledger, capsys):
    target = entry("payout:po_1", available("m1").code)
    tamper("UPDATE ledger_journalentry SET currency = 'eur' WHERE id = %s", target.id)

    with pytest.raises(CommandError, match="violation"):
        call_command("verify_ledger")

    err = capsys.readouterr().err
    assert "entry_account_mismatch" in err
    assert "unbalanced_transaction" in err


def test_the_periodic_task_logs_violations_at_error(ledger, caplog):
    assert verify_ledger_task()["ok"] is True
    target = entry("payout:po_1", available("m1").code)
    tamper("UPDATE ledger_journalentry SET amount = 1 WHERE id = %s", target.id)

    with caplog.at_level(logging.INFO):
        result = verify_ledger_task()

    assert result["ok"] is False
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "ledger.tasks"]
    assert errors
    assert "ledger_verification_failed" in str(errors[0].msg)
