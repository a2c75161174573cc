"""Reconciliation benchmark: our import + matching + posting beside a raw baseline, in one run, on one PostgreSQL.

    .venv/bin/python bench/reconcile.py                  # 1,000,000 lines vs 1,000,000 payments (docs/performance.md)
    .venv/bin/python bench/reconcile.py --lines 10000    # smaller
    .venv/bin/python bench/reconcile.py --skip-posting   # without the post_many phase (not in the target; slowest)

Creates (and drops first) the database ``ledgerline_bench_recon`` on ``BENCH_PG`` (default
``postgres://postgres@127.0.0.1:5432``), migrates it, writes a settlement file with ``sandbox.settlement_gen`` and
seeds our side to match it (untimed): a payment and an attempt per charge line plus uncaptured payments up to
``--lines`` payments, and in the ledger a capture per charge and a refund/dispute posting per other reference.

Timed, each in its own child process so its peak RSS is its own:

* baseline: COPY of the file into a typed table, then one SQL join of the lines to the attempts (by provider
  reference) into a table of results;
* ours, three phases: ``settlement_file_import`` (hash, COPY of the raw lines, validation and conversion in SQL from
  the connector's format description), the matching
  (``settlement_file_reconcile(post=False)``: classification, exception queue, totals), and the posting of every
  matched line through ``post_many`` (a second reconcile with posting, minus the matching time).

With ``--floor``, a third child times, in one backend and on the same copied file, the pieces any reconciliation
that checks a line against our records is made of, each alone: the baseline's COPY and join again, the join to the
attempts *and their payments* (the status and currency a line is checked against), that plus the ledger's captures
(the amount, from the source of truth), and keeping the lines (an unindexed table shaped like the staging table,
then the same with the key index a duplicate across files is found by). It prints what each adds, as a ratio to the
baseline, so what a target can ask of this work is read off the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = "ledgerline_bench_recon"
DSN = f"{SERVER}/{DATABASE}"
DAY = date(2025, 1, 2)
CAPTURED_AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CONNECTOR = "card_a"
WORK_MEM = "256MB"  # settings.RECONCILIATION_WORK_MEM's default


def django_setup() -> None:
    os.environ.update(LEDGERLINE_ENV="test", DATABASE_URL=DSN, LOG_LEVEL="WARNING")
    # Seeding a million payments in one INSERT … SELECT outlasts the application's 60 s statement timeout on a
    # loaded machine; the timed phases set their own (none) for their transaction either way.
    os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT_MS", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def backend_cpu_s(pid: int) -> float | None:
    """CPU seconds a PostgreSQL backend has used (user + system), or None when the server is not on this machine.

    Wall times swing with whatever else the machine runs; the backend's own CPU time does not, so the ratio of the two
    phases' CPU seconds is the figure to compare across runs (each phase is one backend; the baseline's COPY and join
    run in PostgreSQL alone, while ours also spends Python time, reported as the process's own)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_used(pid: int, before: float | None) -> float | None:
    after = backend_cpu_s(pid)
    return None if before is None or after is None else after - before


def peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would report its parent's peak.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- setup (untimed) --------------------------------------------------------------------------------------------


def create_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


RAW_TABLE = """
CREATE TABLE {name} (
    batch_id text, settlement_date date, type text, provider_reference text, our_reference text, rrn text,
    currency text, gross bigint, fee bigint, net bigint, transaction_date timestamptz,
    original_provider_reference text)
"""


# The baseline's join, of the copied lines in ``{lines}``: the floor (--floor) times the very same statement.
BASELINE_JOIN = (
    "SELECT l.*, a.payment_id, a.fee AS our_fee FROM {lines} l LEFT JOIN payments_paymentattempt a"
    " ON a.connector = %s AND a.provider_reference = l.provider_reference"
)


def copy_file(cursor: psycopg.Cursor[Any], table: str, path: Path) -> None:
    with path.open("rb") as handle, cursor.copy(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
        while chunk := handle.read(1 << 20):
            copy.write(chunk)


def _insert_like(cursor: Any, model: Any, template: Any, overrides: dict[str, str], source: str) -> None:
    """INSERT … SELECT rows shaped like ``template`` (a model instance), with SQL expressions for some columns."""
    from django.db import connection
    from django.db.models.expressions import DatabaseDefault

    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        value = getattr(template, field.attname)
        if field.column in overrides:
            columns.append(field.column)
            values.append(overrides[field.column])
        elif not isinstance(value, DatabaseDefault):
            columns.append(field.column)
            values.append("%s")
            params.append(field.get_db_prep_save(value, connection))
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}"  # noqa: S608 - bench
    cursor.execute(sql, params)


def seed(path: Path, payments: int) -> dict[str, Any]:
    from django.db import connection

    from ledger import accounts
    from ledger.money import Money
    from ledger.posting import Posting, credit, debit, post_many
    from payments.models import Payment, PaymentAttempt
    from payments.services.merchants import merchant_create

    merchant, _ = merchant_create(name="Bench", email="bench@example.test")
    with connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute(RAW_TABLE.format(name="bench_seed"))
        copy_file(raw, "bench_seed", path)
        raw.execute("SELECT count(*) FROM bench_seed WHERE type = 'charge'")
        charges = raw.fetchone()[0]  # type: ignore[index]
        payment = Payment(
            merchant=merchant,
            livemode=False,
            amount=0,
            currency="usd",
            status="succeeded",
            payment_method_type="card",
            psp=CONNECTOR,
        )
        _insert_like(
            raw,
            Payment,
            payment,
            {"id": "our_reference", "amount": "gross", "amount_captured": "gross", "currency": "currency"},
            "bench_seed WHERE type = 'charge'",
        )
        extra = max(payments - charges, 0)
        _insert_like(
            raw,
            Payment,
            Payment(
                merchant=merchant,
                livemode=False,
                amount=1000,
                currency="usd",
                status="failed",
                payment_method_type="card",
                psp=CONNECTOR,
            ),
            {"id": "'pay_unsettled_' || n"},
            f"generate_series(1, {extra}) AS n",
        )
        attempt = PaymentAttempt(
            payment_id="x", merchant=merchant, livemode=False, amount=0, connector=CONNECTOR, outcome="succeeded"
        )
        _insert_like(
            raw,
            PaymentAttempt,
            attempt,
            {
                "id": "'att_' || provider_reference",
                "payment_id": "our_reference",
                "amount": "gross",
                "provider_reference": "provider_reference",
                "fee": "fee",
                "idempotency_key": "'bench_' || provider_reference",
            },
            "bench_seed WHERE type = 'charge'",
        )
        raw.execute("ANALYZE")

    def postings() -> Any:
        receivable = accounts.psp_receivable(CONNECTOR, "usd")
        pending = accounts.merchant_pending(merchant.pk, "usd")
        suspense = accounts.suspense("usd")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT ON (type, provider_reference) type, provider_reference, our_reference, gross"
                " FROM bench_seed ORDER BY type, provider_reference"
            )
            while rows := cursor.fetchmany(5000):
                for kind, reference, ours, gross in rows:
                    if kind == "charge":
                        yield Posting(
                            reference=f"payment:{ours}:capture",
                            entries=[debit(receivable, Money(gross, "usd")), credit(pending, Money(gross, "usd"))],
                            occurred_at=CAPTURED_AT,
                            source_type="payment",
                            source_id=ours,
                            metadata={"connector": CONNECTOR, "provider_reference": reference, "gross": gross},
                        )
                    elif kind in ("refund", "chargeback"):
                        amount = Money(max(-gross, 1), "usd")
                        yield Posting(
                            reference=f"bench:{kind}:{reference}",
                            entries=[debit(suspense, amount), credit(receivable, amount)],
                            occurred_at=CAPTURED_AT,
                            source_type="refund" if kind == "refund" else "dispute",
                            source_id=reference,
                            metadata={"connector": CONNECTOR, "provider_reference": reference},
                        )

    started = time.perf_counter()
    result = post_many(postings(), chunk_size=2000)
    with connection.cursor() as cursor:
        # Our side as it is on a normal night: written long ago, hint bits set, statistics fresh.
        cursor.execute("VACUUM ANALYZE")
    return {
        "charges": charges,
        "payments": charges + extra,
        "ledger_postings": result.posted,
        "ledger_seed_s": round(time.perf_counter() - started, 1),
    }


# --- timed phases (each in a child process) ---------------------------------------------------------------------


def phase_baseline(path: Path) -> dict[str, Any]:
    with psycopg.connect(DSN, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_baseline, bench_baseline_result")
        cursor.execute(
            "SELECT set_config('work_mem', %s, false)", (WORK_MEM,)
        )  # what our matching gets, so the join is on equal terms
        cpu_before = backend_cpu_s(conn.info.backend_pid)
        started = time.perf_counter()
        with conn.transaction():
            cursor.execute(RAW_TABLE.format(name="bench_baseline"))
            copy_file(cursor, "bench_baseline", path)
        copied = time.perf_counter()
        cursor.execute(
            "CREATE TABLE bench_baseline_result AS " + BASELINE_JOIN.format(lines="bench_baseline"), (CONNECTOR,)
        )
        joined = time.perf_counter()
        backend_cpu = _cpu_used(conn.info.backend_pid, cpu_before)
    return {"copy_s": copied - started, "join_s": joined - copied, "total_s": joined - started, "cpu_s": backend_cpu}


def phase_ours(path: Path, *, post: bool = True) -> dict[str, Any]:
    django_setup()
    from django.db import connection

    from reconciliation.enums import SettlementFileSource
    from reconciliation.services.imports import settlement_file_import
    from reconciliation.services.matching import settlement_file_reconcile

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    cpu_before, python_before = backend_cpu_s(pid), time.process_time()
    started = time.perf_counter()
    with path.open("rb") as source:
        imported = settlement_file_import(
            connector=CONNECTOR, settlement_date=DAY, source=source, source_kind=SettlementFileSource.COMMAND
        )
    import_done = time.perf_counter()
    run = settlement_file_reconcile(settlement_file=imported.file, post=False)
    match_done = time.perf_counter()
    backend_cpu, python_cpu = _cpu_used(pid, cpu_before), time.process_time() - python_before
    again = settlement_file_reconcile(settlement_file=imported.file, post=True) if post else run
    posted_done = time.perf_counter()
    matching = match_done - import_done
    return {
        "import_s": import_done - started,
        "match_s": matching,
        "cpu_s": backend_cpu,  # import + matching, the PostgreSQL backend's
        "python_cpu_s": python_cpu,
        "post_s": (posted_done - match_done) - matching,
        "lines": run.lines,
        "matched": run.matched,
        "discrepancies": run.new_discrepancies,
        "second_run_new_discrepancies": again.new_discrepancies if post else None,
        "posted": again.posted if post else None,
    }


def phase_floor(path: Path) -> dict[str, Any]:
    """Each piece of a ledger-checked reconciliation alone, in one backend: wall and backend CPU seconds."""
    django_setup()
    from django.db import connection

    from payments.selectors import settlement_candidates
    from reconciliation.services.matching import _captures, _compiled  # the very queries the classification hashes

    connection.ensure_connection()
    conn = connection.connection

    def inline(sql: str, params: Any) -> str:
        return str(psycopg.ClientCursor(conn).mogrify(sql, params))

    candidates, captures = (
        inline(compiled.sql, compiled.params)
        for compiled in (_compiled(settlement_candidates(connector=CONNECTOR)), _compiled(_captures(CONNECTOR)))
    )
    operation = "CASE WHEN l.type = 'refund' THEN 'refund' ELSE 'authorize' END"
    attempt = f"c.provider_reference = l.provider_reference AND c.operation = {operation}"
    keep = (
        "SELECT 1, 'card_a', n, batch_id, settlement_date, type, provider_reference, our_reference, rrn, currency,"
        " gross, fee, net, transaction_date, original_provider_reference FROM floor_lines"
    )
    steps = {
        # The baseline's two statements, again, for the ratios below to be of this child's own figures.
        "copy": None,
        "join_attempts": "CREATE TEMP TABLE floor_j1 AS "
        + inline(BASELINE_JOIN.format(lines="floor_lines"), (CONNECTOR,)),
        # The attempt with its payment, as the classification reads it (status, currency, method).
        "join_payments": f"CREATE TEMP TABLE floor_j2 AS WITH cand AS ({candidates})"  # noqa: S608 - compiled selectors and constants
        " SELECT l.*, c.payment_id, c.fee AS our_fee, c.payment_status, c.payment_currency"
        f" FROM floor_lines l LEFT JOIN cand c ON {attempt}",
        # And the ledger's capture of that payment: what a charge line's amount must equal.
        "join_ledger": f"CREATE TEMP TABLE floor_j3 AS WITH cand AS ({candidates}), cap AS ({captures})"  # noqa: S608 - compiled selectors and constants
        " SELECT l.*, c.payment_id, c.fee AS our_fee, c.payment_status, c.payment_currency,"
        f" cap.gross AS ledger_gross FROM floor_lines l LEFT JOIN cand c ON {attempt}"
        " LEFT JOIN cap ON l.type = 'charge' AND cap.payment_id = c.payment_id",
        # The lines kept: a permanent, WAL-logged table shaped like the staging table, without and with the key index.
        "keep_lines": f"INSERT INTO floor_kept {keep}",
        "keep_lines_keyed": f"INSERT INTO floor_kept_keyed {keep}",
    }
    kept = (
        "CREATE TABLE {name} (file_id bigint, connector varchar(40), line_number bigint, batch_id varchar(64),"
        " settlement_date date, type varchar(24), provider_reference varchar(255), our_reference varchar(255),"
        " rrn varchar(32), currency varchar(3), gross bigint, fee bigint, net bigint, transaction_date timestamptz,"
        " original_provider_reference varchar(255))"
    )
    figures: dict[str, Any] = {}
    with conn.cursor() as cursor:
        for table in ("floor_lines", "floor_kept", "floor_kept_keyed"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute("SELECT set_config('work_mem', %s, false), set_config('jit', 'off', false)", (WORK_MEM,))
        cursor.execute(RAW_TABLE.format(name="floor_lines"))
        for name in ("floor_kept", "floor_kept_keyed"):
            cursor.execute(kept.format(name=name))
        cursor.execute(
            "CREATE INDEX floor_kept_key ON floor_kept_keyed"
            " (connector, provider_reference, type, file_id, line_number)"
        )
        conn.commit()
        pid = conn.info.backend_pid
        for step, sql in steps.items():
            cpu_before, started = backend_cpu_s(pid), time.perf_counter()
            if sql is None:
                copy_file(cursor, "floor_lines", path)
            else:
                cursor.execute(sql)
            conn.commit()
            figures[step] = {"wall_s": time.perf_counter() - started, "cpu_s": _cpu_used(pid, cpu_before)}
            if step == "copy":  # untimed: the line numbers the kept lines carry, and statistics for the joins
                cursor.execute("ALTER TABLE floor_lines ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY")
                cursor.execute("ANALYZE floor_lines")
                conn.commit()
        for table in ("floor_lines", "floor_kept", "floor_kept_keyed", "floor_j1", "floor_j2", "floor_j3"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        conn.commit()
    return figures


def print_floor(floor: dict[str, Any], baseline: dict[str, Any]) -> None:
    """What each piece costs, and what the work that any ledger-checked match must do comes to against the baseline."""

    def cost(step: str) -> float:
        cpu = floor[step]["cpu_s"]
        return float(cpu if cpu is not None else floor[step]["wall_s"])

    unit = "backend CPU s" if floor["copy"]["cpu_s"] is not None else "s"
    base = cost("copy") + cost("join_attempts")
    print(f"floor     ({unit}, one backend, each piece alone on the same copied file)")
    for step, label in (
        ("copy", "COPY of the file (the baseline's)"),
        ("join_attempts", "join to the attempts (the baseline's)"),
        ("join_payments", "join to the attempts and their payments"),
        ("join_ledger", "... and to the ledger's captures"),
        ("keep_lines", "the lines kept in a table, unindexed"),
        ("keep_lines_keyed", "the lines kept with the key index"),
    ):
        print(f"          {label:<42} {cost(step):6.2f} (wall {floor[step]['wall_s']:.2f} s)")
    checked = cost("copy") + cost("join_ledger")
    kept = checked + cost("keep_lines_keyed")
    print(
        f"          baseline {base:.2f}; COPY + the ledger-checked join {checked:.2f} ({checked / base:.2f}x);"
        f" + the lines kept and keyed {kept:.2f} ({kept / base:.2f}x). Neither counts checking the values, the"
        " refunds, disputes and duplicates, the payment side, the queue or the totals."
    )
    if baseline.get("cpu_s") is not None and floor["copy"]["cpu_s"] is not None:
        print(f"          (the baseline child's own: {baseline['cpu_s']:.2f} backend CPU s)")


def child(phase: str, path: Path) -> None:
    if phase == "baseline":
        figures = phase_baseline(path)
    elif phase == "floor":
        figures = phase_floor(path)
    else:
        figures = phase_ours(path, post=phase == "ours")
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))


def run_child(phase: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--file", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"the {phase} phase failed:\n{done.stderr}")
    output = done.stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--payments", type=int, default=None, help="default: as many as --lines")
    parser.add_argument("--skip-posting", action="store_true", help="no post_many phase (it is not in the target)")
    parser.add_argument(
        "--floor", action="store_true", help="also time each piece of a ledger-checked match alone (see above)"
    )
    parser.add_argument("--phase", choices=("baseline", "ours", "ours-unposted", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args.phase, args.file)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "settlement.csv"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sandbox.settlement_gen",
                "--lines",
                str(args.lines),
                "--out",
                str(path),
                "--provider",
                CONNECTOR,
                "--date",
                DAY.isoformat(),
            ],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        create_database()
        django_setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        seeded = seed(path, args.payments or args.lines)
        from django.db import connections

        connections.close_all()
        baseline = run_child("baseline", path)
        ours = run_child("ours-unposted" if args.skip_posting else "ours", path)
        floor = run_child("floor", path) if args.floor else None
    ours_total = ours["import_s"] + ours["match_s"]
    print(
        f"load average {os.getloadavg()[0]:.1f}, nproc {os.cpu_count()}, {args.lines:,} lines"
        f" vs {seeded['payments']:,} payments; seeded {seeded}"
    )
    print(
        f"baseline  COPY {baseline['copy_s']:.2f} s + join {baseline['join_s']:.2f} s = {baseline['total_s']:.2f} s,"
        f" peak RSS {baseline['peak_rss_mb']:.0f} MB"
    )
    print(
        f"ours      import {ours['import_s']:.2f} s + match {ours['match_s']:.2f} s = {ours_total:.2f} s"
        f" ({ours_total / baseline['total_s']:.2f}x the baseline), peak RSS {ours['peak_rss_mb']:.0f} MB"
    )
    if baseline["cpu_s"] is not None and ours["cpu_s"] is not None:
        print(
            f"CPU       baseline backend {baseline['cpu_s']:.2f} s; ours backend {ours['cpu_s']:.2f} s"
            f" + Python {ours['python_cpu_s']:.2f} s ({ours['cpu_s'] / baseline['cpu_s']:.2f}x the baseline by the"
            " backend's CPU)"
        )
    if ours["posted"] is not None:
        print(
            f"          + posting {ours['posted']:,} settlements with post_many {ours['post_s']:.2f} s"
            f" ({ours['posted'] / max(ours['post_s'], 1e-9):,.0f}/s); all in"
            f" {(ours_total + ours['post_s']) / baseline['total_s']:.2f}x the baseline"
        )
    print(
        f"          lines {ours['lines']:,}, matched {ours['matched']:,}, discrepancies {ours['discrepancies']:,},"
        f" new on the second run {ours['second_run_new_discrepancies']}"
    )
    if floor is not None:
        print_floor(floor, baseline)


if __name__ == "__main__":
    main()
