"""A report streams: ten times the rows, (nearly) the same peak memory. The 1,000,000-row figure is
bench/reports_csv.py's (docs/performance.md); this is its short version, on the test database."""

from __future__ import annotations

import tracemalloc

import pytest
from django.db import connection

from bench.reports_csv import CREATED, DAY, seed_payments
from payments.models import Merchant
from reports.builders import PaymentsReport, ReportScope
from reports.writers import csv_write


class _Counting:
    """A file that keeps nothing: only how much was written."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def _peak(merchant_id: str) -> tuple[int, int, int]:
    report = PaymentsReport()
    output = _Counting()
    tracemalloc.start()
    try:
        rows = csv_write(report.columns, report.rows(ReportScope(merchant_id, DAY, DAY)), output)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return rows, output.size, peak


@pytest.mark.django_db
def test_ten_times_the_rows_in_about_the_same_memory():
    small = Merchant.objects.create(name="Small", email="s@x.test")
    large = Merchant.objects.create(name="Large", email="l@x.test")
    with connection.cursor() as cursor:
        seed_payments(cursor, merchant_id=small.id, rows=3_000, created=CREATED)
        seed_payments(cursor, merchant_id=large.id, rows=30_000, created=CREATED)
    small_rows, _, small_peak = _peak(small.id)
    large_rows, large_size, large_peak = _peak(large.id)
    assert (small_rows, large_rows) == (3_000, 30_000)
    # Ten times the rows, about the same peak: a chunk's worth of rows (2,000), never the whole report.
    assert large_peak < small_peak * 1.5, (small_peak, large_peak)
    # Held in memory, the large CSV alone (several MB) would be more than the whole peak.
    assert large_size > 4_000_000
    assert large_peak < large_size, (large_peak, large_size)
