"""``/v1/reports``: a merchant's own reports only, produced by a real Celery worker, downloaded with its key."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from ledger.references import captures
from payments.models import OutboxMessage
from payments.services.outbox_relay import outbox_relay_batch
from reports.models import ReportRun
from reports.services import report_run_execute
from tests.payments.conftest import make_api
from tests.payments.refunds.helpers import captured_payment
from tests.reports.helpers import minor, today

pytestmark = pytest.mark.usefixtures("sandbox")


def ask(api, report_type: str = "payments", fmt: str = "csv", *, key: str | None = None, **extra):
    body = {"type": report_type, "from": str(today() - timedelta(days=1)), "to": str(today()), "format": fmt}
    return api.post("/v1/reports", {**body, **extra}, key=key)


def test_a_report_is_pending_until_a_worker_runs_it(api):
    response = ask(api)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"].startswith("rpt_")
    assert (body["status"], body["progress"], body["download_url"], body["object"]) == ("pending", 0, None, "report")
    assert (body["from"], body["to"], body["type"], body["format"]) == (
        str(today() - timedelta(days=1)),
        str(today()),
        "payments",
        "csv",
    )
    # The request only recorded it, with the command that produces it, in one transaction.
    assert OutboxMessage.objects.filter(topic="reports.generate", aggregate_id=body["id"]).count() == 1
    assert api.get(f"/v1/reports/{body['id']}/download").status_code == 404


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"type": "trial_balance"}, "type"),
        ({"format": "pdf"}, "format"),
        ({"from": "2026-02-30"}, "from"),
        ({"from": str(today()), "to": str(today() - timedelta(days=3))}, "from"),
        ({"from": "2020-01-01"}, "to"),
    ],
)
def test_bad_parameters_are_a_400_and_nothing_is_written(api, body, param):
    response = ask(api, **body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert not ReportRun.objects.exists()


def test_another_merchants_report_is_a_404_everywhere(api):
    mine = ask(api).json()["id"]
    report_run_execute(report_id=mine)
    other = make_api(name="Other")
    for path in (f"/v1/reports/{mine}", f"/v1/reports/{mine}/download"):
        response = other.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "resource_missing"
    assert other.get("/v1/reports").json()["data"] == []
    assert [r["id"] for r in api.get("/v1/reports").json()["data"]] == [mine]
    # The other mode's key of the same merchant does not see it either.
    live = make_api(merchant=api.merchant, livemode=True)
    assert live.get(f"/v1/reports/{mine}").status_code == 404


def test_the_same_idempotency_key_makes_one_report(api):
    first = ask(api, key="report-1")
    again = ask(api, key="report-1")
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ReportRun.objects.count() == 1


def _wait_for(api, report_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/v1/reports/{report_id}").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"report {report_id} still {body['status']} after {timeout}s")


@pytest.mark.worker
def test_full_cycle_through_a_real_worker(api, celery_worker_process):
    paid = [captured_payment(api, amount) for amount in (2000, 3100)]
    csv_id = ask(api).json()["id"]
    xlsx_id = ask(api, "balance_transactions", "xlsx").json()["id"]
    outbox_relay_batch()  # the relay hands the commands to the broker; the worker does the rest

    body = _wait_for(api, csv_id)
    assert (body["status"], body["progress"], body["rows"]) == ("succeeded", 100, 2), body
    download = api.client.get(body["download_url"])
    assert download.status_code == 200
    assert 'filename="payments_' in download["Content-Disposition"]
    text = b"".join(download.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert sorted(r["id"] for r in rows) == sorted(paid)
    ledger_gross = sum(int(t.metadata["gross"]) for t in captures().filter(metadata__merchant_id=api.merchant.id))
    assert sum(minor(r["amount_captured"], r["currency"]) for r in rows) == ledger_gross == 5100
    # Nobody else can fetch it, even with its URL.
    assert make_api(name="Other").client.get(body["download_url"]).status_code == 404

    body = _wait_for(api, xlsx_id)
    assert body["status"] == "succeeded", body
    download = api.client.get(body["download_url"])
    sheet = load_workbook(io.BytesIO(b"".join(download.streaming_content))).active
    header, *data = list(sheet.iter_rows(values_only=False))
    columns = [c.value for c in header]
    nets = [row[columns.index("net")] for row in data]
    assert all(c.data_type == "n" and c.number_format == "#,##0.00" for c in nets)
    assert round(sum(c.value for c in nets) * 100) == sum(
        t["net"] for t in api.get("/v1/balance_transactions").json()["data"]
    )
    assert all(row[columns.index("created")].is_date for row in data)
