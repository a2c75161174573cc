"""With ``DATABASE_REPLICA_URL`` set, reports read from the replica: here the primary is unreachable on purpose, so a
report that touched it would fail."""

from __future__ import annotations

import csv
import io
import subprocess

import pytest

from tests import processes
from tests.payments.refunds.helpers import captured_payment
from tests.reports.helpers import minor, today

pytestmark = pytest.mark.usefixtures("sandbox")


def test_reports_read_from_the_replica_when_one_is_configured(api, worker_env, tmp_path):
    paid = captured_payment(api, 2700)
    env = dict(worker_env)
    replica = env["DATABASE_URL"]
    # The primary points at a port nothing listens on: any query sent there fails.
    env["DATABASE_URL"] = replica.replace(":5432/", ":1/")
    env["DATABASE_REPLICA_URL"] = replica
    output = tmp_path / "payments.csv"
    done = subprocess.run(
        [
            str(processes.BIN / "python"),
            "manage.py",
            "report",
            "payments",
            "--from",
            str(today()),
            "--to",
            str(today()),
            "--merchant",
            api.merchant.id,
            "--output",
            str(output),
            "--skip-checks",
            "-v",
            "0",
        ],
        env=env,
        cwd=processes.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader(io.StringIO(output.read_text("utf-8-sig"), newline="")))
    assert [(r["id"], minor(r["amount_captured"], "usd")) for r in rows] == [(paid, 2700)]
