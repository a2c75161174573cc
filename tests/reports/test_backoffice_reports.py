"""Finance's reports page and ``manage.py report``; Support cannot open or download finance reports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from payments.models import OutboxMessage
from reports.models import ReportRun
from reports.services import report_run_execute
from tests.backoffice.conftest import finance, groups, login, support
from tests.payments.refunds.helpers import captured_payment
from tests.reports.helpers import minor, today

__all__ = ["finance", "groups", "support"]

pytestmark = pytest.mark.usefixtures("sandbox")


def _ask(client, **overrides) -> object:
    body = {
        "type": "fees",
        "merchant": "",
        "date_from": str(today() - timedelta(days=1)),
        "date_to": str(today()),
        "format": "csv",
        "livemode": "",
    }
    return client.post(reverse("admin:reports_reportrun_add"), {**body, **overrides})


def test_finance_asks_for_a_report_watches_it_and_downloads_it(api, finance):
    captured_payment(api, 2000)
    assert finance.get(reverse("admin:reports_reportrun_changelist")).status_code == 200
    assert finance.get(reverse("admin:reports_reportrun_add")).status_code == 200
    response = _ask(finance)
    assert response.status_code == 302, response.content.decode()[:2000]
    run = ReportRun.objects.get()
    assert (run.status, run.merchant_id, run.requested_by) == ("pending", None, "fay")
    assert OutboxMessage.objects.filter(topic="reports.generate", aggregate_id=run.id).exists()
    listing = finance.get(reverse("admin:reports_reportrun_changelist")).content.decode()
    assert run.id in listing
    assert "<progress" in listing
    assert 'http-equiv="refresh"' in listing  # the list follows the run by itself

    assert report_run_execute(report_id=run.id) == "succeeded"
    listing = finance.get(reverse("admin:reports_reportrun_changelist")).content.decode()
    download_url = reverse("admin:reports_download", args=[run.id])
    assert download_url in listing
    assert 'http-equiv="refresh"' not in listing
    download = finance.get(download_url)
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"), newline="")))
    assert [(r["connector"], r["payments"], minor(r["gross"], "usd")) for r in rows] == [("card_a", "1", 2000)]


def test_support_can_neither_open_ask_for_nor_download_finance_reports(api, finance, support):
    _ask(finance)
    run = ReportRun.objects.get()
    report_run_execute(report_id=run.id)
    assert support.get(reverse("admin:reports_reportrun_changelist")).status_code == 403
    assert support.get(reverse("admin:reports_reportrun_add")).status_code == 403
    assert _ask(support).status_code == 403
    assert support.get(reverse("admin:reports_download", args=[run.id])).status_code == 403
    assert ReportRun.objects.count() == 1
    # A staff user with no group at all neither.
    assert login("nobody").get(reverse("admin:reports_download", args=[run.id])).status_code == 403


def test_manage_py_report_writes_the_same_report(api, tmp_path):
    paid = captured_payment(api, 2500)
    output = tmp_path / "payments.csv"
    out = io.StringIO()
    call_command(
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
        stdout=out,
    )
    assert "1 rows written" in out.getvalue()
    rows = list(csv.DictReader(io.StringIO(output.read_text("utf-8-sig"), newline="")))
    assert [(r["id"], minor(r["amount_captured"], "usd")) for r in rows] == [(paid, 2500)]
