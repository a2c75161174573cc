"""One real browser: a Support agent logs in, finds a payment and refunds part of it (Debian's chromium, headless,
driven by Playwright against a live server). Skips, saying why, only when chromium is not installed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from payments.models import Refund
from tests.payments.execution.conftest import drain
from tests.payments.refunds.helpers import captured_payment

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def test_a_support_agent_finds_a_payment_and_refunds_part_of_it(api, sandbox, groups, live_server, monkeypatch):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing and deploy/ensure-browser.sh (run by make test) could not install it")
    sync_api = pytest.importorskip("playwright.sync_api")
    payment_id = captured_payment(api, 2500)
    agent = get_user_model().objects.create_user("agent", "agent@x.test", "correct horse", is_staff=True)
    agent.groups.add(Group.objects.get(name="Support"))
    # Playwright's sync API runs an event loop in this thread; the ORM is not used while it runs.
    monkeypatch.setitem(os.environ, "DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{live_server.url}/admin/login/?next=/admin/")
            page.fill("#id_username", "agent")
            page.fill("#id_password", "correct horse")
            page.click("#login-form [type=submit]")
            page.wait_for_selector("#main")
            page.goto(f"{live_server.url}/admin/payments/payment/")
            page.fill("#searchbar", payment_id)
            page.press("#searchbar", "Enter")
            page.click(f"a:has-text('{payment_id}')")
            page.wait_for_load_state()
            assert f"/admin/payments/payment/{quote(payment_id)}/change/" in page.url
            page.wait_for_selector("#refund-form")
            assert page.inner_text("#refundable") == "2500"
            page.fill("#refund-amount", "900")
            page.select_option("#refund-reason", "requested_by_customer")
            page.fill("#refund-note", "customer returned one item")
            page.click("#refund-submit")
            page.wait_for_selector(".messagelist")
            message = page.inner_text(".messagelist")
            assert "Refund re_" in message
            assert page.inner_text("#refundable") == "1600"
        finally:
            browser.close()

    monkeypatch.delitem(os.environ, "DJANGO_ALLOW_ASYNC_UNSAFE")
    (refund,) = Refund.objects.filter(payment_id=payment_id)
    assert (refund.amount, refund.requested_by) == (900, "admin:agent")
    assert drain() == ["payments.execute_attempt:refund_succeeded"]
