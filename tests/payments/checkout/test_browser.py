"""The hosted checkout page in a real browser (Debian's chromium, headless, driven by Playwright against a live
server), as a payer on a phone uses it: the labels and the keyboard, the page updating by itself while the worker
(here: ``drain()``, run between the browser's steps) talks to the live PSP sandbox. Skips, saying why, only when
chromium is not installed.

With ``LEDGERLINE_SCREENSHOTS=docs/screenshots`` these tests also write the README's checkout screenshots.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from payments.models import CheckoutSession, OutboxMessage, Payment
from tests.backoffice.test_browser import chromium, screenshot
from tests.payments.checkout.test_api import session_body
from tests.payments.execution.conftest import api, drain

__all__ = ["api", "chromium"]

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("sandbox")]

PHONE = {"width": 390, "height": 844}
SHOP = "https://shop.test"
# Each loop runs the worker's due work once and lets the page poll; a healthy run needs a handful.
ROUNDS = 120


@pytest.fixture
def checkout(api: Any, chromium: Any, live_server: Any, settings: Any) -> Callable[..., tuple[str, Any]]:
    """Creates a session through the API and opens its page in a phone-sized window; the merchant's site answers
    its success and cancel pages itself (so a redirect to it lands somewhere real)."""
    settings.LEDGERLINE_BASE_URL = live_server.url

    def open_session(**overrides: Any) -> tuple[str, Any]:
        response = api.post("/v1/checkout/sessions", session_body(**overrides))
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["url"] == f"{live_server.url}/checkout/{body['id']}"
        return body["id"], open_page(body["url"])

    def open_page(url: str) -> Any:
        page = chromium.new_page(viewport=PHONE)
        page.set_default_timeout(15_000)
        page.route(f"{SHOP}/**", lambda route: route.fulfill(content_type="text/html", body="<h1>Thank you</h1>"))
        page.goto(url)
        return page

    open_session.open_page = open_page  # type: ignore[attr-defined]
    return open_session


def until(page: Any, done: Callable[[], bool]) -> None:
    """Runs the worker's due work and lets the page poll, until ``done`` (the page's own updates, never a sleep)."""
    for _ in range(ROUNDS):
        drain()
        if done():
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"the page never got there; it shows: {page.inner_text('body')[:500]}")


def left_for_the_shop(page: Any) -> bool:
    return bool(page.url.startswith(f"{SHOP}/thanks"))


def fill_card(page: Any, number: str, expiry: str = "1239", cvc: str = "123") -> None:
    """Types as a person does: the page formats the number and the expiry as they go."""
    page.get_by_label("Card number").fill("")
    page.get_by_label("Card number").press_sequentially(number)
    page.get_by_label("Expiry date (MM / YY)").fill("")
    page.get_by_label("Expiry date (MM / YY)").press_sequentially(expiry)
    page.get_by_label("Security code (CVC)").fill("")
    page.get_by_label("Security code (CVC)").press_sequentially(cvc)


def completed_events(session_id: str) -> int:
    return OutboxMessage.objects.filter(topic="checkout.session.completed", aggregate_id=session_id).count()


def test_a_card_payment_succeeds_and_the_payer_returns_to_the_shop(checkout):
    session_id, page = checkout()
    assert page.locator("#co-merchant").inner_text() == "Acme"
    assert page.locator("#co-amount").inner_text() == "$20.00"
    fill_card(page, "4242424242424242")
    assert page.get_by_label("Card number").input_value() == "4242 4242 4242 4242"
    assert page.locator("#card_brand").inner_text() == "Visa"
    assert page.get_by_label("Expiry date (MM / YY)").input_value() == "12 / 39"
    screenshot(page, "checkout-card", full_page=True)
    page.keyboard.press("Enter")  # submits from the CVC field, as a keyboard user does
    page.get_by_role("status").filter(has_text="Processing your payment").wait_for()
    assert page.get_by_role("button", name="Pay $20.00").is_disabled()

    until(page, lambda: left_for_the_shop(page))
    assert page.url == f"{SHOP}/thanks?session_id={session_id}"
    (payment,) = Payment.objects.all()
    assert (payment.status, payment.card_last4) == ("succeeded", "4242")
    assert CheckoutSession.objects.get(pk=session_id).status == "complete"
    assert completed_events(session_id) == 1


def test_a_mistyped_card_is_caught_in_the_browser_next_to_its_field(checkout):
    _, page = checkout()
    fill_card(page, "4242424242424241", expiry="0120", cvc="12")
    page.get_by_role("button", name="Pay $20.00").click()
    number = page.get_by_label("Card number")
    assert number.get_attribute("aria-invalid") == "true"
    assert page.locator("#card_number-error").inner_text() == "The card number is not a valid card number."
    assert page.locator("#card_expiry-error").inner_text() == "The card has expired."
    assert page.locator("#card_cvc-error").inner_text() == "The card's security code must be 3 digits."
    assert page.evaluate("document.activeElement.id") == "card_number"  # focus goes to the first mistake
    screenshot(page, "checkout-invalid-card", full_page=True)
    assert not Payment.objects.exists()


def test_a_declined_card_shows_the_reason_and_another_card_pays(checkout):
    session_id, page = checkout()
    fill_card(page, "4000000000000002")
    page.get_by_role("button", name="Pay $20.00").click()
    alert = page.get_by_role("alert")
    until(page, alert.is_visible)
    assert "Payment failed: The card was declined." in alert.inner_text()
    assert page.get_by_role("button", name="Pay $20.00").is_enabled()
    screenshot(page, "checkout-declined", full_page=True)

    fill_card(page, "5555555555554444")
    assert page.locator("#card_brand").inner_text() == "Mastercard"
    page.get_by_role("button", name="Pay $20.00").click()
    until(page, lambda: left_for_the_shop(page))
    payments = list(Payment.objects.order_by("id").values_list("status", "card_last4"))
    assert payments == [("failed", "0002"), ("succeeded", "4444")]
    assert completed_events(session_id) == 1


def test_a_upi_payment_approved_in_the_sandbox_payer_app_updates_the_page_by_itself(checkout, sandbox, live_server):
    # The sandbox calls back the platform (signed), as a real UPI provider would.
    sandbox.control("/webhooks", {"template": f"{live_server.url}/psp/webhooks/{{provider}}"})
    session_id, page = checkout(currency="inr", amount=49900, payment_methods=["card", "upi"])
    assert page.locator("#co-amount").inner_text() == "₹499.00"
    page.get_by_role("radio", name="UPI").check()  # Pay with: Card / UPI
    assert page.get_by_label("Card number").is_hidden()
    page.get_by_role("button", name="Pay ₹499.00 with UPI").click()

    qr = page.get_by_role("img", name="QR code of this UPI payment: scan it with your UPI app")
    until(page, qr.is_visible)
    # The QR code is drawn (a broken image is visible too, but has no pixels).
    page.wait_for_function("document.getElementById('co-upi-qr').complete")
    assert qr.evaluate("image => image.naturalWidth") > 100
    assert page.get_by_role("link", name="Open in UPI app").get_attribute("href").startswith("upi://pay?")
    assert page.locator("#co-upi-countdown").inner_text() != "—"
    screenshot(page, "checkout-upi", full_page=True)

    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Open the sandbox payer app (test mode)").click()
    payer_app = opened.value
    payer_app.get_by_role("button", name="Approve in your UPI app").click()
    payer_app.wait_for_load_state()

    until(page, lambda: left_for_the_shop(page))
    assert page.url == f"{SHOP}/thanks?session_id={session_id}"
    (payment,) = Payment.objects.all()
    assert (payment.payment_method_type, payment.status, len(payment.upi_rrn)) == ("upi", "succeeded", 12)
    assert completed_events(session_id) == 1


def test_an_expired_session_says_so_and_takes_no_payment(checkout):
    session_id, page = checkout()
    fill_card(page, "4242424242424242")
    CheckoutSession.objects.filter(pk=session_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    page.get_by_role("button", name="Pay $20.00").click()
    page.get_by_role("heading", name="This payment page has expired").wait_for()
    assert page.get_by_role("status").inner_text() == "This payment page has expired. Nothing was charged."
    screenshot(page, "checkout-expired", full_page=True)
    assert page.get_by_role("link", name="Return to Acme").get_attribute("href") == (
        f"{SHOP}/cart?session_id={session_id}"
    )
    assert not Payment.objects.exists()
    assert CheckoutSession.objects.get(pk=session_id).status == "expired"


def test_a_double_submit_makes_one_payment(checkout):
    session_id, page = checkout()
    fill_card(page, "4242424242424242")
    button = page.get_by_role("button", name="Pay $20.00")
    # The page's own submission is answered before the copies below are sent: on a loaded machine they overtook it,
    # and then a copy, not the click, was the one that made the (still single) payment.
    with page.expect_response(lambda r: r.url.endswith("/pay") and r.request.method == "POST") as clicked:
        button.click()
    assert clicked.value.json()["created"] is True
    button.click(force=True)  # a second click on the (now disabled) button
    page.keyboard.press("Enter")
    # And the same submission sent twice at once, as a page without the script's guard would.
    statuses = page.evaluate(
        """async () => {
            const form = document.getElementById("co-card-form");
            const send = () => fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form)),
                headers: {"X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value}});
            const answers = await Promise.all([send(), send()]);
            return Promise.all(answers.map(a => a.json().then(b => [a.status, b.created])));
        }"""
    )
    assert statuses == [[200, False], [200, False]]
    until(page, lambda: left_for_the_shop(page))
    assert Payment.objects.count() == 1
    assert completed_events(session_id) == 1


def test_paying_in_two_tabs_makes_one_payment(checkout):
    session_id, first = checkout()
    second = checkout.open_page(first.url)
    fill_card(first, "4242424242424242")
    fill_card(second, "5555555555554444")
    first.get_by_role("button", name="Pay $20.00").click()
    first.get_by_role("status").filter(has_text="Processing your payment").wait_for()
    second.get_by_role("button", name="Pay $20.00").click()
    # The second tab follows the payment the first one made instead of making its own.
    second.get_by_role("status").filter(has_text="Processing your payment").wait_for()
    until(first, lambda: left_for_the_shop(first) and left_for_the_shop(second))
    (payment,) = Payment.objects.all()
    assert (payment.status, payment.card_last4) == ("succeeded", "4242")
    assert completed_events(session_id) == 1


def test_a_refresh_while_the_payment_is_in_flight_follows_it_instead_of_offering_to_pay_again(checkout):
    session_id, page = checkout()
    fill_card(page, "4242424242424242")
    page.get_by_role("button", name="Pay $20.00").click()
    page.locator("#co-checkout[data-state='processing']").wait_for()  # the server answered: a payment is made
    page.reload()
    page.get_by_role("status").filter(has_text="Processing your payment").wait_for()
    assert page.get_by_role("button", name="Pay $20.00").is_disabled()
    until(page, lambda: left_for_the_shop(page))
    assert Payment.objects.count() == 1
    assert completed_events(session_id) == 1
