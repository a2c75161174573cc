"""The dashboard at /admin/dashboard/: Finance and Support see the platform's figures, drawn on the server."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from ledger.balances import merchant_balances
from ledger.verification import verify_ledger
from reports.builders import FeesReport, ReportScope
from tests.backoffice.conftest import login
from tests.payments.conftest import card_method, card_payment_body
from tests.payments.execution.conftest import drain
from tests.payments.refunds.helpers import captured_payment, release_due
from tests.reports.helpers import csv_report

pytestmark = pytest.mark.usefixtures("sandbox")
URL = "/admin/dashboard/"


def _text(html: str, element_id: str) -> str:
    """The text of the element with this id (tags inside it dropped)."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</strong>', html, re.S)
    assert match, element_id
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_finance_and_support_see_the_figures_others_do_not(api, finance, support):
    paid = captured_payment(api, 2000)
    captured_payment(api, 3000)
    declined = api.post("/v1/payments", card_payment_body(confirm=True, payment_method=card_method("4000000000000002")))
    assert declined.status_code == 200
    drain()
    release_due()
    # Pay out everything, then refund in full: the merchant owes the refund (less nothing: fees stay with us).
    available = sum(m.amount for m in merchant_balances(api.merchant.id).available)
    assert api.post("/v1/payouts", {"amount": available, "currency": "usd"}).status_code == 200
    drain()
    assert api.post("/v1/refunds", {"payment": paid}).status_code == 200
    drain()
    owed = -sum(m.amount for m in merchant_balances(api.merchant.id).available)

    for client in (finance, support):
        page = client.get(URL)
        assert page.status_code == 200
        html = page.content.decode()
        assert _text(html, "kpi-volume") == "$50.00"
        assert _text(html, "kpi-auth") == "66.7 %"  # two authorizations succeeded, one declined
        assert _text(html, "kpi-doubt") == "0"
        assert "1 pending or in transit" in html
        assert html.count("<svg") >= 4
        assert "card · card_a" in html
        assert '<script src="http' not in html
        assert api.merchant.id in html
        assert f"${owed / 100:,.2f}" in html
    assert login("nobody").get(URL).status_code == 403


def test_bad_filters_say_why_and_show_the_default_range(finance):
    page = finance.get(URL, {"currency": "zzz", "date_from": "2026-13-01"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'role="alert"' in html
    assert "Not an ISO 4217 currency." in html
    page = finance.get(URL, {"date_from": "2026-01-10", "date_to": "2026-01-01"})
    assert "must not be after" in page.content.decode()


def test_another_currency_shows_only_its_own_money(api, finance):
    captured_payment(api, 2000)
    html = finance.get(URL, {"currency": "inr"}).content.decode()
    assert "No captures in this range" in html
    assert "$20.00" not in html


def test_seed_history_spans_the_days_and_keeps_the_ledger_whole(finance):
    out = io.StringIO()
    call_command("seed_history", days=3, per_day=6, stdout=out)
    assert "seeded 3 days" in out.getvalue()
    assert verify_ledger().ok
    days = {
        row[0]
        for row in FeesReport().rows(
            ReportScope(None, timezone.now().date() - timedelta(days=2), timezone.now().date())
        )
    }
    assert len(days) == 3
    _, rows = csv_report("trial_balance", ReportScope(None, timezone.now().date(), timezone.now().date()))
    assert all(r["debits"] == r["credits"] for r in rows if r["code"] == "TOTAL")
    assert len(csv_report("balances_owed", ReportScope(None, timezone.now().date(), timezone.now().date()))[1]) == 1
    html = finance.get(URL).content.decode()
    assert _text(html, "kpi-doubt") == "1"
    assert "Nimbus Outfitters" in html  # the merchant the demo leaves owing
