"""verify_ledger recomputes everything; a row tampered with behind the triggers' back is caught."""

from __future__ import annotations

import logging
import os

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger import accounts, recipes
from ledger.models import JournalCheckpoint, JournalEntry, JournalSeal
from ledger.seal import seal_pending
from ledger.tasks import verify_ledger_task
from ledger.verification import verify_ledger
from tests.ledger.conftest import NOW, available, fund, pending, usd

# Committed data: the tampering below comes from another connection, a database superuser's, as it would.
pytestmark = pytest.mark.django_db(transaction=True)
SUPERUSER = os.environ.get("TEST_POSTGRES_SUPERUSER_URL", "postgres://postgres:postgres@127.0.0.1:5432")


@pytest.fixture
def ledger():
    fund("m1", 1_000)
    fund("m2", 500)
    recipes.payout_created(merchant_id="m1", payout_id="po_1", amount=usd(400), occurred_at=NOW)
    recipes.payout_created(merchant_id="m1", payout_id="po_2", amount=usd(100), occurred_at=NOW)


def tamper(sql: str, *params: object) -> None:
    """Changes the journal the way a database superuser can: triggers off for its session
    (``session_replication_role = replica``), which the application's role may not do."""
    with psycopg.connect(f"{SUPERUSER}/{connection.settings_dict['NAME']}") as superuser:
        superuser.execute("SET session_replication_role = replica")
        superuser.execute(sql, params)


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


# --- tamper evidence: what a superuser with the triggers off can no longer do unnoticed ----------------------


def named(check: str, report) -> list[str]:
    return [v.subject for v in report.violations if v.check == check]


def test_a_changed_amount_is_named_even_when_everything_else_is_made_consistent(ledger):
    target = entry("payout:po_2", available("m1").code)
    bank = entry("payout:po_2", accounts.bank_cash("usd").code)
    # Amounts and running balances rewritten so that every bookkeeping check still passes.
    tamper("UPDATE ledger_journalentry SET amount = 50, balance_after = balance_after + 50 WHERE id = %s", target.id)
    tamper("UPDATE ledger_journalentry SET amount = 50, balance_after = balance_after + 50 WHERE id = %s", bank.id)

    report = verify_ledger()
    assert named("unauthenticated_transaction", report) == [target.transaction_id]


def test_a_changed_description_is_named(ledger):
    target = entry("payout:po_1", available("m1").code)
    tamper(
        "UPDATE ledger_journaltransaction SET description = 'Refund to customer' WHERE id = %s", target.transaction_id
    )

    report = verify_ledger()
    assert [v.check for v in report.violations] == ["unauthenticated_transaction"]
    assert named("unauthenticated_transaction", report) == [target.transaction_id]


def test_a_deleted_entry_is_named(ledger):
    target = entry("payout:po_2", available("m1").code)
    tamper("DELETE FROM ledger_journalentry WHERE id = %s", target.id)

    assert target.transaction_id in named("unauthenticated_transaction", verify_ledger())


def test_a_transaction_inserted_out_of_band_is_named_and_never_sealed(ledger):
    seal_pending()
    bank = accounts.account_get(accounts.bank_cash("usd").code)
    m1 = accounts.account_get(available("m1").code)
    tamper(
        "INSERT INTO ledger_journaltransaction (id, reference, description, occurred_at, posted_at, source_type,"
        " source_id, metadata, fingerprint) VALUES ('txn_forged', 'adjustment:gift', '', now(), now(), 'adjustment',"
        " 'gift', '{}', '')"
    )
    tamper(
        "INSERT INTO ledger_journalentry (transaction_id, account_id, merchant_id, direction, amount, currency,"
        " sequence, balance_after, posted_at) VALUES ('txn_forged', %s, NULL, 'debit', 100, 'usd', 3, 600, now()),"
        " ('txn_forged', %s, 'm1', 'credit', 100, 'usd', 7, 600, now())",
        bank.id,
        m1.id,
    )

    assert named("unauthenticated_transaction", verify_ledger()) == ["txn_forged"]
    assert seal_pending().refused == ["txn_forged"]  # the sealer never chains it
    assert not JournalSeal.objects.filter(transaction_id="txn_forged").exists()


def test_a_whole_sealed_transaction_removed_breaks_the_chain(ledger):
    seal_pending()
    target = entry("payout:po_1", available("m1").code).transaction_id
    tamper("DELETE FROM ledger_journalentry WHERE transaction_id = %s", target)
    tamper("DELETE FROM ledger_journaltransaction WHERE id = %s", target)

    report = verify_ledger()
    assert any(v.check == "seal_chain" and target in v.detail for v in report.violations)

    # Removing its seal as well only moves the break to the next link.
    tamper("DELETE FROM ledger_journalseal WHERE transaction_id = %s", target)
    assert any(v.check == "seal_chain" for v in verify_ledger().violations)


def test_a_rewritten_chain_head_disagrees_with_the_checkpoint_and_with_an_anchor_kept_elsewhere(ledger):
    sealed = seal_pending()
    assert (sealed.sealed, len(sealed.head)) == (6, 64)
    assert verify_ledger(anchor=(sealed.seal_id, sealed.head)).ok
    tamper("UPDATE ledger_journalseal SET chain = repeat('0', 64) WHERE id = %s", sealed.seal_id)

    report = verify_ledger(anchor=(sealed.seal_id, sealed.head))
    assert {"seal_chain", "checkpoint_mismatch"} <= {v.check for v in report.violations}


def test_sealing_is_incremental_and_later_postings_extend_the_chain(ledger):
    first = seal_pending()
    assert seal_pending().sealed == 0
    recipes.payout_created(merchant_id="m2", payout_id="po_3", amount=usd(10), occurred_at=NOW)
    second = seal_pending()
    assert (second.sealed, second.seal_id) == (1, first.seal_id + 1)
    assert JournalCheckpoint.objects.count() == 2
    assert verify_ledger().ok


def test_the_command_checks_an_anchor(ledger, capsys):
    sealed = seal_pending()
    call_command("verify_ledger", "--anchor", f"{sealed.seal_id}:{sealed.head}")
    with pytest.raises(CommandError, match="violation"):
        call_command("verify_ledger", "--anchor", f"{sealed.seal_id}:{'f' * 64}")
    assert "checkpoint_mismatch" in capsys.readouterr().err
