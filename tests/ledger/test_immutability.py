"""Journal rows are never changed: model guards, queryset guards and database triggers each refuse it."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from ledger import accounts
from ledger.exceptions import ImmutableRecordError
from ledger.models import Account, JournalEntry, JournalTransaction
from ledger.posting import credit, debit, post
from tests.conftest import owner_connection
from tests.ledger.conftest import force_deferred_checks, pending, usd

pytestmark = pytest.mark.django_db

RECEIVABLE = accounts.psp_receivable("sandbox", "usd")


@pytest.fixture
def txn():
    return post(reference="t1", entries=[debit(RECEIVABLE, usd(100)), credit(pending("m1"), usd(100))])


def test_models_refuse_save_after_create_and_delete(txn):
    entry = txn.entries.first()
    entry.amount = 1
    with pytest.raises(ImmutableRecordError):
        entry.save()
    with pytest.raises(ImmutableRecordError):
        entry.delete()
    txn.description = "edited"
    with pytest.raises(ImmutableRecordError):
        txn.save()
    with pytest.raises(ImmutableRecordError):
        JournalEntry.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(ImmutableRecordError):
        JournalTransaction.objects.all().delete()


CHANGES = [
    "UPDATE ledger_journalentry SET amount = amount + 1",
    "DELETE FROM ledger_journalentry",
    "TRUNCATE ledger_journalentry",
    "UPDATE ledger_journaltransaction SET description = 'edited'",
    "DELETE FROM ledger_journaltransaction",
    "TRUNCATE ledger_journaltransaction CASCADE",
    "UPDATE ledger_account SET currency = 'eur'",
    "UPDATE ledger_account SET non_negative = NOT non_negative",
]


@pytest.mark.parametrize("sql", CHANGES)
def test_the_applications_role_may_not_change_the_journal(txn, sql):
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert JournalEntry.objects.filter(transaction=txn).count() == 2


@pytest.mark.parametrize(
    "sql",
    [
        "SET session_replication_role = replica",
        "ALTER TABLE ledger_journalentry DISABLE TRIGGER USER",
        "ALTER TABLE ledger_journaltransaction DISABLE TRIGGER ledger_journaltransaction_immutable",
        "DROP TRIGGER ledger_journalentry_immutable ON ledger_journalentry",
        "DELETE FROM backoffice_auditlogentry",
        "UPDATE backoffice_auditlogentry SET reason = 'edited'",
        "DELETE FROM ledger_journalseal",
        "CREATE OR REPLACE FUNCTION ledger_reject_change() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN NEW; END $$",
    ],
)
def test_the_applications_role_cannot_switch_the_protections_off(sql):
    """Each way the journal was once rewritten through the application's own connection (issue: it connected as a
    superuser that owned the tables) is now refused by PostgreSQL itself."""
    with (
        pytest.raises(DatabaseError, match=r"permission denied|must be owner"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sql", CHANGES)
def test_the_triggers_refuse_even_the_owner(sql):
    post(reference="t1", entries=[debit(RECEIVABLE, usd(100)), credit(pending("m1"), usd(100))])
    with owner_connection() as owner, pytest.raises(psycopg.Error, match="ledger"):
        owner.execute(sql)
    assert JournalEntry.objects.count() == 2


def test_an_account_may_be_renamed(txn):
    Account.objects.filter(code=RECEIVABLE.code).update(name="Sandbox receivable")


def _write_raw(legs: list[tuple[str, int, str]]) -> None:
    """Writes a transaction and its entries with raw SQL, then runs the checks COMMIT would run."""
    receivable = accounts.account_get_or_create(RECEIVABLE)
    bank = accounts.account_get_or_create(accounts.bank_cash("usd"))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_journaltransaction (id, reference, description, occurred_at, posted_at, source_type,"
            " source_id, metadata, fingerprint) VALUES ('txn_raw', 'raw', '', now(), now(), '', '', '{}', '')"
        )
        for sequence, (direction, amount, currency) in enumerate(legs, start=1):
            account = receivable if direction == "debit" else bank
            cursor.execute(
                "INSERT INTO ledger_journalentry (transaction_id, account_id, merchant_id, direction, amount,"
                " currency, sequence, balance_after, posted_at)"
                " VALUES ('txn_raw', %s, NULL, %s, %s, %s, %s, %s, now())",
                [account.id, direction, amount, currency, sequence, amount],
            )
        force_deferred_checks()


@pytest.mark.parametrize(
    ("legs", "message"),
    [
        ([("debit", 100, "usd"), ("credit", 90, "usd")], "does not balance"),
        ([("debit", 100, "usd")], "two"),
        ([], "fewer than two"),
        ([("debit", 100, "eur"), ("credit", 100, "eur")], "does not match the currency"),
    ],
    ids=["unbalanced", "one-entry", "no-entries", "wrong-currency"],
)
def test_the_commit_time_triggers_refuse_what_bypasses_post(legs, message):
    with pytest.raises(DatabaseError, match=message):
        _write_raw(legs)


def test_a_balanced_raw_write_passes_the_commit_time_triggers():
    _write_raw([("debit", 100, "usd"), ("credit", 100, "usd")])
