"""``ledger_post``: PostgreSQL's write path for ``ledger.posting``, one call per posting or per chunk.

Locking the accounts, reading their heads, computing running balances and inserting happen without a round trip
to the client in between: every round trip made while holding the account locks is time other postings on those
accounts wait (see docs/performance.md). The Python side validates first and sends one compact JSON document
(cheaper to build and parse than a score of array parameters):

* ``a``: sorted unique accounts ``[code, name, type, currency, merchant_id, non_negative, new id]``; the new id
  (for an account that does not exist yet) may be null, and then a missing account raises ``LN004``;
* ``t``: transactions ``[id, reference, description, occurred_at, source_type, source_id, metadata (JSON text),
  fingerprint, reverses_id]``;
* ``l``: legs ``[transaction index, account index, overflow account index (0: none), direction, amount]``, 1-based.

Errors carry their own SQLSTATE, which ``ledger.posting`` turns into its exceptions:
``LN001`` insufficient funds (DETAIL: reference, account id, balance, shortfall, one per line), ``LN002``
references already taken (DETAIL: one per line), ``LN003`` an existing account with other attributes (DETAIL:
code), ``LN004`` accounts missing and no ids given for them. Returns the ``posted_at`` given to every row: the clock read after the locks were granted.
"""

from django.db import migrations

FORWARDS = r"""
CREATE FUNCTION ledger_post(p jsonb) RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    a_code text[];
    t_id text[]; t_reference text[];
    l_txn integer[]; l_account integer[]; l_overflow integer[]; l_direction text[]; l_amount bigint[];
    locked integer;
    now_ timestamptz;
    ids text[]; seqs bigint[]; bals bigint[]; debit_normal boolean[]; non_negative boolean[];
    currencies text[]; merchants text[]; bad text;
    parts_acc integer[]; parts_amt bigint[];
    covered bigint; i integer; j integer; m integer := 0; delta bigint;
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
                                           source_id, metadata, fingerprint, reverses_id)
    SELECT x->>0, x->>1, x->>2, (x->>3)::timestamptz, now_, x->>4, x->>5, (x->>6)::jsonb, x->>7, x->>8
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
           array_agg((x->>2)::integer ORDER BY o), array_agg(x->>3 ORDER BY o), array_agg((x->>4)::bigint ORDER BY o)
      INTO l_txn, l_account, l_overflow, l_direction, l_amount
      FROM jsonb_array_elements(p->'l') WITH ORDINALITY AS e(x, o);
    FOR k IN 1 .. cardinality(l_txn) LOOP
        i := l_account[k];
        parts_acc := ARRAY[i];
        parts_amt := ARRAY[l_amount[k]];
        IF l_overflow[k] > 0 AND non_negative[i] AND (l_direction[k] = 'debit') <> debit_normal[i] THEN
            covered := least(l_amount[k], greatest(bals[i], 0));
            parts_acc := ARRAY[i, l_overflow[k]];
            parts_amt := ARRAY[covered, l_amount[k] - covered];
        END IF;
        FOR q IN 1 .. cardinality(parts_acc) LOOP
            CONTINUE WHEN parts_amt[q] = 0;
            j := parts_acc[q];
            delta := CASE WHEN (l_direction[k] = 'debit') = debit_normal[j] THEN parts_amt[q] ELSE -parts_amt[q] END;
            IF non_negative[j] AND bals[j] + delta < 0 THEN
                RAISE EXCEPTION 'ledger: % would take % below zero', t_reference[l_txn[k]], ids[j]
                    USING ERRCODE = 'LN001',
                          DETAIL = concat_ws(E'\n', t_reference[l_txn[k]], ids[j], bals[j], -(bals[j] + delta));
            END IF;
            seqs[j] := seqs[j] + 1;
            bals[j] := bals[j] + delta;
            m := m + 1;
            e_txn[m] := t_id[l_txn[k]]; e_account[m] := ids[j]; e_merchant[m] := merchants[j];
            e_direction[m] := l_direction[k]; e_amount[m] := parts_amt[q]; e_currency[m] := currencies[j];
            e_sequence[m] := seqs[j]; e_balance[m] := bals[j];
        END LOOP;
    END LOOP;

    INSERT INTO ledger_journalentry (transaction_id, account_id, merchant_id, direction, amount, currency, sequence,
                                     balance_after, posted_at)
    SELECT *, now_ FROM unnest(e_txn, e_account, e_merchant, e_direction, e_amount, e_currency, e_sequence,
                               e_balance);
    RETURN now_;
END $$
"""

BACKWARDS = "DROP FUNCTION ledger_post(jsonb)"


def _run(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_immutability_triggers")]

    operations = [migrations.RunPython(_run(FORWARDS), _run(BACKWARDS))]
