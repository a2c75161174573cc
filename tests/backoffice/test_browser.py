"""The back office in a real browser (Debian's chromium, headless, driven by Playwright against a live server), as a
Support agent on a laptop-sized screen uses it: the keyboard and the labels, not CSS selectors, wherever a person
would. Skips, saying why, only when chromium is not installed.

With ``LEDGERLINE_SCREENSHOTS=docs/screenshots`` these tests also write the README's screenshots.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from payments.models import Dispute, Payment, Refund
from payments.services.merchants import merchant_create
from payments.services.outbox_relay import outbox_relay_drain
from tests.payments.conftest import card_method, card_payment_body, make_api
from tests.payments.execution.conftest import drain
from tests.payments.refunds.helpers import captured_payment
from tests.payments.refunds.test_disputes import chargeback
from tests.psp_sandbox import receiving

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1400, "height": 900}

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing and deploy/ensure-browser.sh (run by make test) could not install it")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the test reads the database between its steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def agent(groups: None, chromium: Any, live_server: Any) -> Any:
    """A Support agent, signed in, in a 1400 x 900 window."""
    user = get_user_model().objects.create_user("agent", "agent@x.test", "correct horse", is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    page = chromium.new_page(viewport=LAPTOP)
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("agent")
    page.get_by_label("Password").fill("correct horse")
    page.keyboard.press("Enter")
    page.wait_for_selector("#main")
    page.base = live_server.url
    return page


def screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    folder = os.environ.get("LEDGERLINE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)


def open_payment(page: Any, payment_id: str) -> None:
    page.goto(f"{page.base}/admin/payments/payment/{payment_id.replace('_', '_5F')}/change/")
    page.wait_for_selector("#payment-summary")


def refund_from_the_page(page: Any, amount: str, currency: str) -> None:
    """Fills the refund form by its labels and submits it with the keyboard."""
    page.get_by_label(f"Amount in {currency}").fill(amount)
    page.get_by_label("Reason").select_option("requested_by_customer")
    page.get_by_label("Note for the audit log (required)").fill("customer returned one item")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm")


def test_a_support_agent_finds_a_payment_by_provider_reference_from_the_one_search_box(api, sandbox, agent):
    payment_id = captured_payment(api, 2500)
    other = captured_payment(api, 1000)
    reference = Payment.objects.get(pk=payment_id).attempts.get().provider_reference
    assert reference.startswith("ch_")

    agent.keyboard.press("/")  # focuses the search box from anywhere
    agent.keyboard.type(reference)
    agent.keyboard.press("Enter")
    agent.wait_for_selector("#payment-summary")

    assert "/admin/payments/payment/pay_5F" in agent.url
    summary = agent.inner_text("#payment-summary")
    assert payment_id in summary
    assert other not in summary
    assert "$25.00" in summary
    assert reference in agent.inner_text("#related-attempts")


def test_refunding_12_50_of_a_usd_payment_posts_1250_minor_units(api, sandbox, agent):
    payment_id = captured_payment(api, 2000)
    open_payment(agent, payment_id)
    assert agent.inner_text("#refundable") == "$20.00"

    refund_from_the_page(agent, "12.50", "USD")
    confirm = agent.inner_text("#confirm")
    assert "$12.50 (1250 minor units of USD)" in confirm
    assert re.search(r"Refundable after this refund\s+\$7\.50", confirm)
    assert not Refund.objects.exists()  # nothing happens before the confirmation

    agent.wait_for_function("document.activeElement?.id === 'confirm-submit'")  # autofocus: Enter confirms
    screenshot(agent, "refund-confirmation")
    agent.keyboard.press("Enter")
    agent.wait_for_selector(".messagelist")
    assert "of $12.50 (1250 minor units of USD) created" in agent.inner_text(".messagelist")
    assert agent.inner_text("#refundable") == "$7.50"

    (refund,) = Refund.objects.filter(payment_id=payment_id)
    assert (refund.amount, refund.currency, refund.requested_by) == (1250, "usd", "admin:agent")
    assert drain() == ["payments.execute_attempt:refund_succeeded"]


def test_a_jpy_refund_is_typed_in_yen_without_decimals(api, sandbox, agent):
    payment_id = captured_payment(api, 5000, currency="jpy")
    open_payment(agent, payment_id)
    assert agent.inner_text("#payment-amount") == "¥5,000"

    agent.get_by_label("Amount in JPY").fill("12.50")
    agent.get_by_label("Note for the audit log (required)").fill("wrong size")
    agent.keyboard.press("Enter")
    agent.wait_for_selector(".messagelist")
    assert "JPY has no decimal places" in agent.inner_text(".messagelist")

    refund_from_the_page(agent, "1,250", "JPY")
    assert "¥1,250 (1250 minor units of JPY)" in agent.inner_text("#confirm")
    agent.click("#confirm-submit")
    agent.wait_for_selector(".messagelist")
    assert agent.inner_text("#refundable") == "¥3,750"
    (refund,) = Refund.objects.filter(payment_id=payment_id)
    assert (refund.amount, refund.currency) == (1250, "jpy")


def _a_day_of_payments(api: Any) -> list[str]:
    """What a Support agent's list looks like: several merchants, methods, currencies and outcomes."""
    shop = make_api(merchant=merchant_create(name="Northwind Outfitters", email="ops@northwind.test")[0])
    ids = [
        captured_payment(api, 9900, customer_email="maria.gonzalez@example.com"),
        captured_payment(shop, 125000, currency="jpy", customer_email="k.tanaka@example.jp"),
        captured_payment(api, 4599, customer_email="sam.oconnor@example.org", description="Order 1042"),
    ]
    manual = card_payment_body(confirm=True, capture_method="manual", amount=15000, customer_email="li.wei@example.com")
    ids.append(shop.post("/v1/payments", manual).json()["id"])
    declined = card_payment_body(
        confirm=True, amount=3200, customer_email="a.novak@example.cz", payment_method=card_method("4000000000000002")
    )
    ids.append(api.post("/v1/payments", declined).json()["id"])
    drain()
    outbox_relay_drain()
    return ids


def test_the_payments_list_shows_status_and_amount_at_1400px_without_horizontal_scrolling(api, sandbox, agent):
    _a_day_of_payments(api)
    agent.goto(f"{agent.base}/admin/payments/payment/")
    agent.wait_for_selector("#result_list")
    screenshot(agent, "payments-list")

    viewport = agent.evaluate("({width: window.innerWidth, scroll: document.documentElement.scrollWidth})")
    assert viewport["scroll"] <= viewport["width"] == LAPTOP["width"]
    table = agent.evaluate(
        "(() => { const t = document.querySelector('#result_list');"
        " return {table: t.scrollWidth, box: t.parentElement.clientWidth}; })()"
    )
    assert table["table"] <= table["box"]
    headers = [h.split("\n")[0].strip().lower() for h in agent.locator("#result_list thead th").all_inner_texts()]
    assert headers[:7] == ["payment · created", "status", "amount", "method", "customer", "merchant", "connector"]
    for column in ("status_badge", "amount_shown", "connector"):
        box = agent.locator(f"#result_list th.column-{column}").bounding_box()
        assert box["x"] >= 0, column
        assert box["x"] + box["width"] <= LAPTOP["width"], column
    rows = [row.lower() for row in agent.locator("#result_list tbody tr").all_inner_texts()]
    assert any("succeeded" in row and "¥125,000" in row and "northwind outfitters" in row for row in rows)
    assert any("failed" in row and "$32.00" in row for row in rows)
    assert any("requires capture" in row and "$150.00" in row for row in rows)

    # Dark, as the system asks (unfold's theme switch in the user menu overrides it per person).
    agent.emulate_media(color_scheme="dark")
    agent.reload()
    agent.wait_for_selector("#result_list")
    assert "dark" in agent.evaluate("document.documentElement.className")
    screenshot(agent, "payments-list-dark")


def test_the_payment_page_puts_status_amounts_actions_and_timeline_first(api, sandbox, agent):
    payment_id = captured_payment(api, 9900, customer_email="maria.gonzalez@example.com")
    captured_payment(api, 2500, customer_email="maria.gonzalez@example.com")
    open_payment(agent, payment_id)
    refund_from_the_page(agent, "20", "USD")
    agent.click("#confirm-submit")
    agent.wait_for_selector(".messagelist")
    drain()
    outbox_relay_drain()
    open_payment(agent, payment_id)

    order = agent.evaluate(
        "['payment-summary', 'payment-actions', 'timeline', 'related', 'raw-fields']"
        ".map(id => document.getElementById(id).getBoundingClientRect().top)"
    )
    assert order == sorted(order)
    assert agent.locator("#payment-summary").bounding_box()["y"] < LAPTOP["height"]
    assert not agent.locator("#raw-fields").evaluate("details => details.open")
    assert "$79.00" in agent.inner_text("#refundable")
    timeline = agent.inner_text("#timeline")
    assert "refund.succeeded" in timeline
    assert "$20.00" in timeline
    # Every related object is one click away: the refund, the customer's other payment, the events.
    agent.click("#related-refunds a.ll-id")
    agent.wait_for_url(re.compile(r"/admin/payments/refund/re_5F"))
    agent.go_back()
    assert "1 more" in agent.inner_text("#related-customer") or "All 2 payments" in agent.inner_text(
        "#related-customer"
    )
    open_payment(agent, payment_id)
    assert agent.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    agent.set_viewport_size({"width": LAPTOP["width"], "height": 1500})
    screenshot(agent, "payment-page")


def test_the_disputes_queue_shows_days_left_and_a_disputed_payment_offers_no_refund(api, sandbox, agent):
    with receiving(sandbox) as hook:
        soon = chargeback(api, sandbox, hook, amount=3000)
        later = chargeback(api, sandbox, hook, amount=1500)
        late = chargeback(api, sandbox, hook, amount=2000)
    now = timezone.now()
    Dispute.objects.filter(pk=soon.pk).update(evidence_due_by=now + timedelta(days=1, hours=2))
    Dispute.objects.filter(pk=later.pk).update(evidence_due_by=now + timedelta(days=5, hours=2))
    Dispute.objects.filter(pk=late.pk).update(evidence_due_by=now - timedelta(days=10))

    agent.get_by_role("link", name=re.compile("Disputes")).first.click()
    agent.wait_for_selector("#result_list")
    rows = [row.lower() for row in agent.locator("#result_list tbody tr").all_inner_texts()]
    assert [late.id.lower() in rows[0], soon.id.lower() in rows[1], later.id.lower() in rows[2]] == [True, True, True]
    assert "overdue" in rows[0]
    assert "1 day left" in rows[1]
    assert "5 days left" in rows[2]
    assert agent.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    table = agent.evaluate(
        "(t => t.scrollWidth <= t.parentElement.clientWidth)(document.querySelector('#result_list'))"
    )
    assert table
    screenshot(agent, "disputes-queue")

    open_payment(agent, soon.payment_id)
    assert agent.locator("#refund-form").count() == 0
    assert "provider refuses refunds of a disputed payment" in agent.inner_text("#refund-unavailable")
