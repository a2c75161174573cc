"""Reports benchmark: a 1,000,000-row payments CSV streams in flat memory, beside a raw COPY baseline.

    .venv/bin/python bench/reports_csv.py                  # 1,000,000 rows (docs/performance.md)
    .venv/bin/python bench/reports_csv.py --rows 100000    # smaller

Creates (and drops first) the database ``ledgerline_bench_reports`` on ``BENCH_PG`` (default
``postgres://postgres@127.0.0.1:5432``), migrates it and seeds (untimed, one ``INSERT … SELECT generate_series``)
two merchants' payments: ``--small`` rows for one, ``--rows`` for the other, all captured on one day.

Timed, each in its own child process so its peak RSS (VmHWM) is its own:

* baseline: ``COPY (SELECT the same columns …) TO STDOUT WITH CSV`` through psycopg into a file;
* ours: the payments report (``reports.builders.PaymentsReport`` → ``reports.writers.csv_write``: the ORM with a
  server-side cursor, each payment's attempts and its ledger fee, Excel's BOM and CRLF) into a file, for the small
  merchant and for the large one. Flat memory means the large run's peak is (nearly) the small run's.

``--tracemalloc`` also reports the Python heap's peak (slower: every allocation is traced).
"""

from __future__ import annotations

import argparse
import json
import os
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
DATABASE = "ledgerline_bench_reports"
DSN = f"{SERVER}/{DATABASE}"
DAY = date(2025, 1, 2)
CREATED = datetime(2025, 1, 2, 12, 0, tzinfo=UTC)

SEED_PAYMENTS = """
INSERT INTO payments_payment (
    id, merchant_id, livemode, amount, currency, amount_captured, amount_refunded, status, capture_method,
    description, metadata, customer_email, payment_method_type, card_brand, card_last4, card_fingerprint, upi_flow,
    upi_vpa, upi_rrn, setup_future_usage, off_session,
    psp, failure_code, failure_message, cancellation_reason, disputed, funds_pending,
    created, updated)
SELECT %(prefix)s || lpad(g::text, 10, '0'), %(merchant)s, false, 1000 + g %% 5000, 'usd', 1000 + g %% 5000, 0,
    'succeeded', 'automatic', 'bench payment ' || g, '{}'::jsonb, '', 'card', 'visa', '4242', '', '', '', '',
    '', false, 'card_a', '', '', '', false, 0, %(created)s, %(created)s
FROM generate_series(1, %(rows)s) AS g
"""


def seed_payments(cursor: Any, *, merchant_id: str, rows: int, created: datetime = CREATED) -> None:
    """``rows`` succeeded card payments of ``merchant_id`` created at ``created``, in one statement."""
    cursor.execute(
        SEED_PAYMENTS, {"prefix": f"pay_{merchant_id[-6:]}_", "merchant": merchant_id, "rows": rows, "created": created}
    )


def django_setup() -> None:
    os.environ.update(LEDGERLINE_ENV="test", DATABASE_URL=DSN, LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def peak_rss_mb() -> float:
    # VmHWM: this process's own high-water mark (a child's ru_maxrss would include its parent's).
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def create_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


COLUMNS = (
    "id, created, merchant_id, livemode, status, payment_method_type, card_brand, psp, currency, amount, "
    "amount_captured, amount_refunded, disputed, failure_code"
)


def child(mode: str, merchant_id: str, trace: bool) -> dict[str, Any]:
    if trace:
        import tracemalloc

        tracemalloc.start()
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        if mode == "baseline":
            with psycopg.connect(DSN) as conn, conn.cursor() as cur:
                query = (
                    f"COPY (SELECT {COLUMNS} FROM payments_payment WHERE merchant_id = %s ORDER BY id) "  # noqa: S608 - fixed
                    "TO STDOUT WITH CSV HEADER"
                )
                rows = -1
                with cur.copy(query, (merchant_id,)) as copy:
                    for chunk in copy:
                        output.write(chunk)
                        rows += bytes(chunk).count(b"\n")
        else:
            django_setup()
            from reports.builders import PaymentsReport, ReportScope
            from reports.writers import csv_write

            report = PaymentsReport()
            scope = ReportScope(merchant_id=merchant_id, date_from=DAY, date_to=DAY)
            rows = csv_write(report.columns, report.rows(scope), output)
        size = output.tell()
    result = {"mode": mode, "rows": rows, "seconds": time.perf_counter() - started, "bytes": size}
    result["peak_rss_mb"] = peak_rss_mb()
    if trace:
        result["peak_heap_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    return result


def run_child(mode: str, merchant_id: str, trace: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", mode, "--merchant", merchant_id] + (["--tracemalloc"] if trace else [])
    done = subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--child", choices=["baseline", "ours"])
    parser.add_argument("--merchant")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.merchant, args.tracemalloc)))
        return

    create_database()
    django_setup()
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0)
    from payments.models import Merchant

    small = Merchant.objects.create(name="Small", email="small@bench.test")
    large = Merchant.objects.create(name="Large", email="large@bench.test")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        seed_payments(cursor, merchant_id=small.id, rows=args.small)
        seed_payments(cursor, merchant_id=large.id, rows=args.rows)
        cursor.execute("ANALYZE")
    print(f"seeded {args.small:,} + {args.rows:,} payments in {time.perf_counter() - started:.1f}s (untimed)")
    connections.close_all()

    results = [
        run_child("baseline", large.id, args.tracemalloc),
        run_child("ours", small.id, args.tracemalloc),
        run_child("ours", large.id, args.tracemalloc),
    ]
    baseline = results[0]
    print(f"{'run':<10} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'MB':>7} {'peak RSS MB':>12} {'heap MB':>8} ratio")
    for r in results:
        heap = f"{r['peak_heap_mb']:.1f}" if "peak_heap_mb" in r else "-"
        ratio = r["seconds"] / baseline["seconds"] * baseline["rows"] / max(r["rows"], 1)
        print(
            f"{r['mode']:<10} {r['rows']:>10,} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>9,.0f} "
            f"{r['bytes'] / 2**20:>7.1f} {r['peak_rss_mb']:>12.1f} {heap:>8} {ratio:.1f}x"
        )
    small_run, large_run = results[1], results[2]
    print(
        f"peak RSS, {large_run['rows']:,} rows vs {small_run['rows']:,}: "
        f"{large_run['peak_rss_mb']:.1f} MB vs {small_run['peak_rss_mb']:.1f} MB "
        f"(+{large_run['peak_rss_mb'] - small_run['peak_rss_mb']:.1f} MB, "
        f"{large_run['rows'] / small_run['rows']:.0f}x the rows)"
    )


if __name__ == "__main__":
    main()
