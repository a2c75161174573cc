"""The dashboard in a real browser, as Finance sees it after a week of demo history. With
``LEDGERLINE_SCREENSHOTS=docs/screenshots`` it writes the README's dashboard screenshot."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from tests.backoffice.test_browser import LAPTOP, chromium, screenshot

__all__ = ["chromium"]

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("sandbox")]


def test_finance_reads_the_dashboard_charts_without_any_script(groups, chromium, live_server):
    call_command("seed_history", days=7, per_day=12, verbosity=0)
    user = get_user_model().objects.create_user("fay", "fay@x.test", "correct horse", is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))
    page = chromium.new_page(viewport={**LAPTOP, "height": 1400}, java_script_enabled=True)
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/dashboard/")
    page.get_by_label("Username").fill("fay")
    page.get_by_label("Password").fill("correct horse")
    page.keyboard.press("Enter")
    page.wait_for_selector("#dashboard")
    charts = page.locator("svg.ll-chart")
    assert charts.count() == 4
    # Seven days of bars, each with its figures in a tooltip a screen reader can reach.
    assert page.locator("svg.ll-chart").first.locator("rect title").count() >= 7
    assert page.get_by_role("heading", name="Merchants with negative balances").is_visible()
    assert page.locator("#owing-table").inner_text().count("Nimbus Outfitters") == 1
    screenshot(page, "dashboard", full_page=True)
    # The currency filter: INR shows the Indian merchant's UPI and card volume only.
    page.get_by_label("Currency").fill("inr")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("#dashboard")
    assert "upi · upi" in page.locator("#volume-table").inner_text()
    assert "currency=inr" in page.url
