"""Immutability and balance, enforced by the database itself (the models' guards are the first line, this the last).

PostgreSQL: UPDATE, DELETE and TRUNCATE on the journal tables raise; a DEFERRABLE INITIALLY DEFERRED constraint
trigger checks at commit that each transaction has at least two entries that balance to zero per currency, and
that each entry's currency and merchant are its account's; an account's identity (code, type, currency, merchant,
non-negative flag) never changes. SQLite (the embedded shape): UPDATE and DELETE on the journal tables raise, and
account identity is fixed likewise.
"""

from django.db import migrations

POSTGRES_FORWARDS = [
    r"""
    CREATE FUNCTION ledger_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger: % on % is not allowed: journal rows are immutable, post a reversal instead',
            TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
    END $$
    """,
    r"""
    CREATE FUNCTION ledger_check_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        entries bigint;
        unbalanced text;
        account_ok boolean;
    BEGIN
        SELECT sum(n), string_agg(currency || ' ' || total, ', ') FILTER (WHERE total <> 0)
          INTO entries, unbalanced
          FROM (SELECT currency, count(*) AS n,
                       sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) AS total
                  FROM ledger_journalentry WHERE transaction_id = NEW.transaction_id GROUP BY currency) t;
        IF entries < 2 THEN
            RAISE EXCEPTION 'ledger: transaction % has % entry, at least two are needed', NEW.transaction_id, entries
                USING ERRCODE = 'check_violation';
        END IF;
        IF unbalanced IS NOT NULL THEN
            RAISE EXCEPTION 'ledger: transaction % does not balance: debits minus credits is %',
                NEW.transaction_id, unbalanced USING ERRCODE = 'check_violation';
        END IF;
        SELECT currency = NEW.currency AND merchant_id IS NOT DISTINCT FROM NEW.merchant_id INTO account_ok
          FROM ledger_account WHERE id = NEW.account_id;
        IF NOT account_ok THEN
            RAISE EXCEPTION 'ledger: entry % does not match the currency or merchant of account %',
                NEW.id, NEW.account_id USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    r"""
    CREATE FUNCTION ledger_check_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF (SELECT count(*) FROM (SELECT 1 FROM ledger_journalentry WHERE transaction_id = NEW.id LIMIT 2) t) < 2 THEN
            RAISE EXCEPTION 'ledger: transaction % has fewer than two entries', NEW.id USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    r"""
    CREATE FUNCTION ledger_fix_account_identity() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF (NEW.id, NEW.code, NEW.type, NEW.currency, NEW.merchant_id, NEW.non_negative)
           IS DISTINCT FROM (OLD.id, OLD.code, OLD.type, OLD.currency, OLD.merchant_id, OLD.non_negative) THEN
            RAISE EXCEPTION 'ledger: account % keeps its code, type, currency, merchant and flags', OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """CREATE TRIGGER ledger_journaltransaction_immutable BEFORE UPDATE OR DELETE ON ledger_journaltransaction
       FOR EACH ROW EXECUTE FUNCTION ledger_reject_change()""",
    """CREATE TRIGGER ledger_journaltransaction_no_truncate BEFORE TRUNCATE ON ledger_journaltransaction
       FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change()""",
    """CREATE TRIGGER ledger_journalentry_immutable BEFORE UPDATE OR DELETE ON ledger_journalentry
       FOR EACH ROW EXECUTE FUNCTION ledger_reject_change()""",
    """CREATE TRIGGER ledger_journalentry_no_truncate BEFORE TRUNCATE ON ledger_journalentry
       FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change()""",
    """CREATE CONSTRAINT TRIGGER ledger_journalentry_balanced AFTER INSERT ON ledger_journalentry
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry()""",
    """CREATE CONSTRAINT TRIGGER ledger_journaltransaction_has_entries AFTER INSERT ON ledger_journaltransaction
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_transaction()""",
    """CREATE TRIGGER ledger_account_identity BEFORE UPDATE ON ledger_account
       FOR EACH ROW EXECUTE FUNCTION ledger_fix_account_identity()""",
]

POSTGRES_BACKWARDS = [
    "DROP TRIGGER ledger_account_identity ON ledger_account",
    "DROP TRIGGER ledger_journaltransaction_has_entries ON ledger_journaltransaction",
    "DROP TRIGGER ledger_journalentry_balanced ON ledger_journalentry",
    "DROP TRIGGER ledger_journalentry_no_truncate ON ledger_journalentry",
    "DROP TRIGGER ledger_journalentry_immutable ON ledger_journalentry",
    "DROP TRIGGER ledger_journaltransaction_no_truncate ON ledger_journaltransaction",
    "DROP TRIGGER ledger_journaltransaction_immutable ON ledger_journaltransaction",
    "DROP FUNCTION ledger_fix_account_identity()",
    "DROP FUNCTION ledger_check_transaction()",
    "DROP FUNCTION ledger_check_entry()",
    "DROP FUNCTION ledger_reject_change()",
]

_SQLITE_TABLES = ("ledger_journaltransaction", "ledger_journalentry")
SQLITE_FORWARDS = [
    f"""CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
        BEGIN SELECT RAISE(ABORT, 'ledger: {op} on {table} is not allowed: journal rows are immutable'); END"""
    for table in _SQLITE_TABLES
    for op in ("UPDATE", "DELETE")
] + [
    """CREATE TRIGGER ledger_account_identity BEFORE UPDATE ON ledger_account
       WHEN NEW.id IS NOT OLD.id OR NEW.code IS NOT OLD.code OR NEW.type IS NOT OLD.type
         OR NEW.currency IS NOT OLD.currency OR NEW.merchant_id IS NOT OLD.merchant_id
         OR NEW.non_negative IS NOT OLD.non_negative
       BEGIN SELECT RAISE(ABORT, 'ledger: an account keeps its code, type, currency, merchant and flags'); END"""
]
SQLITE_BACKWARDS = [f"DROP TRIGGER {table}_no_{op.lower()}" for table in _SQLITE_TABLES for op in ("UPDATE", "DELETE")] + [
    "DROP TRIGGER ledger_account_identity"
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for statement in statements.get(schema_editor.connection.vendor, []):
            # params=None: the PL/pgSQL bodies contain % placeholders of their own.
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARDS, "sqlite": SQLITE_FORWARDS}),
            _run({"postgresql": POSTGRES_BACKWARDS, "sqlite": SQLITE_BACKWARDS}),
        )
    ]
