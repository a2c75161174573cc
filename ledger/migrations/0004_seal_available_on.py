"""The balance model of docs/balances.md, stored ``available_on``, and tamper evidence (ledger/seal.py).

* ``ledger_post()`` takes ``available_on`` and the MAC of each transaction, and a per-entry ``no_overdraft`` flag
  instead of the overflow accounts it used to split debits into (debits that depend on balances are now decided
  by the caller under ``lock_balances``): ``l`` is ``[transaction index, account index, direction, amount,
  no_overdraft]``; ``t`` gains ``available_on`` and ``mac``.
* A merchant's available balance may go negative (money the merchant owes; payouts use ``no_overdraft``); its
  pending balance never may.
* Seals and checkpoints are append-only like the journal.
* Transactions posted before MACs existed get one now, from their rows as they are (trust on first use).
"""

import django.db.models.functions.datetime
from django.db import migrations, models

POST_FUNCTION = r"""
CREATE OR REPLACE FUNCTION ledger_post(p jsonb) RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    a_code text[];
    t_id text[]; t_reference text[];
    l_txn integer[]; l_account integer[]; l_direction text[]; l_amount bigint[]; l_floor boolean[];
    locked integer;
    now_ timestamptz;
    ids text[]; seqs bigint[]; bals bigint[]; debit_normal boolean[]; non_negative boolean[];
    currencies text[]; merchants text[]; bad text;
    j integer; m integer := 0; delta bigint;
    e_txn text[]; e_account text[]; e_merchant text[]; e_direction text[]; e_amount bigint[]; e_currency text[];
    e_sequence bigint[]; e_balance bigint[];
BEGIN
    SELECT array_agg(x->>0 ORDER BY o) INTO a_code FROM jsonb_array_elements(p->'a') WITH ORDINALITY AS e(x, o);
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM ledger_account WHERE code = ANY(a_code) ORDER BY id FOR UPDATE) l;
    IF locked < cardinality(a_code) THEN
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(p->'a') AS e(x) WHERE x->>6 IS NULL) THEN
            RAISE EXCEPTION 'ledger: accounts to create, and no ids for them' USING ERRCODE = 'LN004';
        END IF;
        INSERT INTO ledger_account (id, code, name, type, currency, merchant_id, non_negative, created)
        SELECT x->>6, x->>0, x->>1, x->>2, x->>3, x->>4, (x->>5)::boolean, now()
          FROM jsonb_array_elements(p->'a') AS e(x)
        ON CONFLICT (code) DO NOTHING;
        PERFORM 1 FROM ledger_account WHERE code = ANY(a_code) ORDER BY id FOR UPDATE;
    END IF;
    now_ := clock_timestamp();

    -- A new statement, so a new snapshot: it sees every posting committed before our locks were granted.
    SELECT array_agg(a.id ORDER BY e.o), array_agg(coalesce(h.sequence, 0) ORDER BY e.o),
           array_agg(coalesce(h.balance_after, 0) ORDER BY e.o),
           array_agg(a.type IN ('asset', 'expense') ORDER BY e.o), array_agg(a.non_negative ORDER BY e.o),
           array_agg(a.currency ORDER BY e.o), array_agg(a.merchant_id ORDER BY e.o),
           min(a.code) FILTER (WHERE (a.type, a.currency, a.merchant_id, a.non_negative) IS DISTINCT FROM
                                      (e.x->>2, e.x->>3, e.x->>4, (e.x->>5)::boolean))
      INTO ids, seqs, bals, debit_normal, non_negative, currencies, merchants, bad
      FROM jsonb_array_elements(p->'a') WITH ORDINALITY AS e(x, o)
      JOIN ledger_account a ON a.code = e.x->>0
      LEFT JOIN LATERAL (SELECT s.sequence, s.balance_after FROM ledger_journalentry s
                          WHERE s.account_id = a.id ORDER BY s.sequence DESC LIMIT 1) h ON true;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'ledger: account % exists with other attributes', bad USING ERRCODE = 'LN003', DETAIL = bad;
    END IF;

    INSERT INTO ledger_journaltransaction (id, reference, description, occurred_at, posted_at, source_type,
                                           source_id, metadata, fingerprint, reverses_id, available_on, mac)
    SELECT x->>0, x->>1, x->>2, (x->>3)::timestamptz, now_, x->>4, x->>5, (x->>6)::jsonb, x->>7, x->>8,
           (x->>9)::timestamptz, x->>10
      FROM jsonb_array_elements(p->'t') AS e(x)
    ON CONFLICT (reference) DO NOTHING;
    GET DIAGNOSTICS locked = ROW_COUNT;
    SELECT array_agg(x->>0 ORDER BY o), array_agg(x->>1 ORDER BY o) INTO t_id, t_reference
      FROM jsonb_array_elements(p->'t') WITH ORDINALITY AS e(x, o);
    IF locked < cardinality(t_id) THEN
        RAISE EXCEPTION 'ledger: references already posted' USING ERRCODE = 'LN002', DETAIL = (
            SELECT string_agg(t.reference, E'\n') FROM ledger_journaltransaction t
             WHERE t.reference = ANY(t_reference) AND NOT t.id = ANY(t_id));
    END IF;

    SELECT array_agg((x->>0)::integer ORDER BY o), array_agg((x->>1)::integer ORDER BY o),
           array_agg(x->>2 ORDER BY o), array_agg((x->>3)::bigint ORDER BY o), array_agg((x->>4)::boolean ORDER BY o)
      INTO l_txn, l_account, l_direction, l_amount, l_floor
      FROM jsonb_array_elements(p->'l') WITH ORDINALITY AS e(x, o);
    FOR k IN 1 .. cardinality(l_txn) LOOP
        j := l_account[k];
        delta := CASE WHEN (l_direction[k] = 'debit') = debit_normal[j] THEN l_amount[k] ELSE -l_amount[k] END;
        IF (non_negative[j] OR l_floor[k]) AND bals[j] + delta < 0 THEN
            RAISE EXCEPTION 'ledger: % would take % below zero', t_reference[l_txn[k]], ids[j]
                USING ERRCODE = 'LN001',
                      DETAIL = concat_ws(E'\n', t_reference[l_txn[k]], ids[j], bals[j], -(bals[j] + delta));
        END IF;
        seqs[j] := seqs[j] + 1;
        bals[j] := bals[j] + delta;
        m := m + 1;
        e_txn[m] := t_id[l_txn[k]]; e_account[m] := ids[j]; e_merchant[m] := merchants[j];
        e_direction[m] := l_direction[k]; e_amount[m] := l_amount[k]; e_currency[m] := currencies[j];
        e_sequence[m] := seqs[j]; e_balance[m] := bals[j];
    END LOOP;

    INSERT INTO ledger_journalentry (transaction_id, account_id, merchant_id, direction, amount, currency, sequence,
                                     balance_after, posted_at)
    SELECT *, now_ FROM unnest(e_txn, e_account, e_merchant, e_direction, e_amount, e_currency, e_sequence,
                               e_balance);
    RETURN now_;
END $$
"""

_APPEND_ONLY = ("ledger_journalseal", "ledger_journalcheckpoint")
POSTGRES_TRIGGERS = [
    statement
    for table in _APPEND_ONLY
    for statement in (
        f"""CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION ledger_reject_change()""",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change()""",
    )
]
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
        BEGIN SELECT RAISE(ABORT, 'ledger: {op} on {table} is not allowed: seals are immutable'); END"""
    for table in _APPEND_ONLY
    for op in ("UPDATE", "DELETE")
]
FLAGS = """UPDATE ledger_account SET non_negative = (code LIKE 'merchant:%:pending')
            WHERE code LIKE 'merchant:%:available' OR code LIKE 'merchant:%:pending'"""


def _history_changes(apps, schema_editor):
    """Runs the two one-off changes to rows that the triggers otherwise protect, with those triggers set aside."""
    from ledger.seal import SealedEntry, transaction_mac

    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(POST_FUNCTION)
            for statement in POSTGRES_TRIGGERS:
                cursor.execute(statement)
            cursor.execute("ALTER TABLE ledger_account DISABLE TRIGGER ledger_account_identity")
            cursor.execute("ALTER TABLE ledger_journaltransaction DISABLE TRIGGER ledger_journaltransaction_immutable")
        else:
            for statement in SQLITE_TRIGGERS:
                cursor.execute(statement)
            # Adding columns made SQLite rebuild the transactions table, which dropped its triggers: they are
            # created again below.
            cursor.execute("DROP TRIGGER ledger_account_identity")
            cursor.execute("DROP TRIGGER IF EXISTS ledger_journaltransaction_no_update")
            cursor.execute("DROP TRIGGER IF EXISTS ledger_journaltransaction_no_delete")
        cursor.execute(FLAGS)
        cursor.execute(
            "SELECT t.id, t.reference, t.description, t.occurred_at, t.source_type, t.source_id, t.metadata,"
            " t.reverses_id, a.code, e.direction, e.amount, e.currency FROM ledger_journaltransaction t"
            " JOIN ledger_journalentry e ON e.transaction_id = t.id JOIN ledger_account a ON a.id = e.account_id"
            " ORDER BY t.id"
        )
        rows = cursor.fetchall()
        Transaction = apps.get_model("ledger", "JournalTransaction")
        # Through the migrating connection: on PostgreSQL the default one may be another role, and it would wait
        # for the lock the ALTER TABLEs above hold until this very transaction ends.
        migrating = Transaction.objects.using(schema_editor.connection.alias)
        fields = {t.id: t for t in migrating.filter(mac="").only("id", "occurred_at")}
        macs: dict[str, tuple] = {}
        for row in rows:
            macs.setdefault(row[0], (row[:8], []))[1].append(SealedEntry(*row[8:12]))
        for txn_id, (header, entries) in macs.items():
            if txn_id not in fields:
                continue
            mac = transaction_mac(
                transaction_id=txn_id,
                reference=header[1],
                description=header[2],
                occurred_at=fields[txn_id].occurred_at,
                source_type=header[4],
                source_id=header[5],
                metadata=header[6],
                reverses_id=header[7],
                available_on=None,
                entries=entries,
            )
            cursor.execute("UPDATE ledger_journaltransaction SET mac = %s WHERE id = %s", [mac, txn_id])
        if vendor == "postgresql":
            cursor.execute("ALTER TABLE ledger_journaltransaction ENABLE TRIGGER ledger_journaltransaction_immutable")
            cursor.execute("ALTER TABLE ledger_account ENABLE TRIGGER ledger_account_identity")
        else:
            for op in ("UPDATE", "DELETE"):
                cursor.execute(
                    f"""CREATE TRIGGER ledger_journaltransaction_no_{op.lower()} BEFORE {op}
                        ON ledger_journaltransaction BEGIN SELECT RAISE(ABORT,
                        'ledger: {op} on ledger_journaltransaction is not allowed: journal rows are immutable'); END"""
                )
            cursor.execute(
                """CREATE TRIGGER ledger_account_identity BEFORE UPDATE ON ledger_account
                   WHEN NEW.id IS NOT OLD.id OR NEW.code IS NOT OLD.code OR NEW.type IS NOT OLD.type
                     OR NEW.currency IS NOT OLD.currency OR NEW.merchant_id IS NOT OLD.merchant_id
                     OR NEW.non_negative IS NOT OLD.non_negative
                   BEGIN SELECT RAISE(ABORT, 'ledger: an account keeps its code, type, currency, merchant and flags');
                   END"""
            )


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0003_post_function'),
    ]

    operations = [
        migrations.CreateModel(
            name='JournalCheckpoint',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('seal_id', models.BigIntegerField()),
                ('chain', models.CharField(max_length=64)),
                ('sealed', models.IntegerField(help_text='transactions sealed in the batch')),
                ('created', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='JournalSeal',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('transaction_id', models.CharField(max_length=40, unique=True)),
                ('chain', models.CharField(max_length=64)),
                ('sealed_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
            ],
            options={
                'ordering': ['id'],
            },
        ),
        migrations.AddField(
            model_name='journaltransaction',
            name='available_on',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='journaltransaction',
            name='mac',
            field=models.CharField(blank=True, db_default='', max_length=64),
        ),
        migrations.AddIndex(
            model_name='journaltransaction',
            index=models.Index(fields=['posted_at'], name='ledger_txn_posted'),
        ),
        migrations.RunPython(_history_changes, migrations.RunPython.noop),
    ]
