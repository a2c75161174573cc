"""With ``DATABASE_REPLICA_URL`` set, every figure of the dashboard is read from the replica: here the primary is
unreachable on purpose, so a figure read from it would fail."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests import processes
from tests.payments.conftest import card_method, card_payment_body
from tests.payments.execution.conftest import drain
from tests.payments.refunds.helpers import captured_payment

pytestmark = pytest.mark.usefixtures("sandbox")

_FIGURES = """
import json
from django.http import QueryDict
from backoffice.dashboard_page import dashboard_context
c = dashboard_context(QueryDict())
print(json.dumps({
    "count": c["total_count"], "volume": str(c["total_volume"]), "auth": [c["auth_total"].numerator,
    c["auth_total"].denominator], "in_doubt": c["in_doubt"], "payouts": c["payouts_due"].count,
    "rates": [r.numerator for r in c["rates"]], "discrepancy_kinds": c["discrepancies"].kinds, "owing": len(c["owing"]),
}))
"""


def test_the_dashboard_reads_from_the_replica_when_one_is_configured(api, worker_env):
    captured_payment(api, 2000)
    declined = api.post("/v1/payments", card_payment_body(confirm=True, payment_method=card_method("4000000000000002")))
    assert declined.status_code == 200
    drain()
    env = dict(worker_env)
    replica = env["DATABASE_URL"]
    # The primary points at a port nothing listens on: any query sent there fails.
    env["DATABASE_URL"] = replica.replace(":5432/", ":1/")
    env["DATABASE_REPLICA_URL"] = replica
    done = subprocess.run(
        [str(processes.BIN / "python"), "manage.py", "shell", "-c", _FIGURES],
        env=env,
        cwd=processes.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures == {
        "count": 1,
        "volume": '<span class="ll-money">$20.00</span>',
        "auth": [1, 2],
        "in_doubt": 0,
        "payouts": 0,
        "rates": [0, 0],
        "discrepancy_kinds": [],
        "owing": 0,
    }
