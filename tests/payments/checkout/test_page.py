"""The hosted page's server side, without a browser: its headers, its CSRF check, the card's checks, and the
session's guarantee that it is paid once (same attempt, or a payment in flight, answers the existing payment)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from payments.models import CheckoutSession, OutboxMessage, Payment
from tests.payments.checkout.test_api import session_body
from tests.payments.execution.conftest import api, drain

__all__ = ["api"]

DECLINED = "4000000000000002"


def create_session(api: Any, **overrides: Any) -> str:
    response = api.post("/v1/checkout/sessions", session_body(**overrides))
    assert response.status_code == 200, response.content
    return str(response.json()["id"])


class Payer:
    """A browser's worth of state: the CSRF cookie the page set, sent back as the header the page's script sends."""

    def __init__(self, session_id: str) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.session_id = session_id
        self.page = self.client.get(f"/checkout/{session_id}")

    def pay(self, key: str, **fields: str) -> Any:
        token = self.client.cookies["csrftoken"].value
        return self.client.post(
            f"/checkout/{self.session_id}/pay", {"attempt_key": key, **fields}, headers={"X-CSRFToken": token}
        )

    def card(self, key: str, number: str = "4242 4242 4242 4242", expiry: str = "12 / 39", cvc: str = "123") -> Any:
        return self.pay(key, method="card", card_number=number, card_expiry=expiry, card_cvc=cvc)

    def status(self) -> dict[str, Any]:
        return dict(self.client.get(f"/checkout/{self.session_id}/status").json())


def completed_events(session_id: str) -> int:
    return OutboxMessage.objects.filter(topic="checkout.session.completed", aggregate_id=session_id).count()


def test_the_page_shows_the_merchant_and_amount_under_a_strict_policy(api):
    payer = Payer(create_session(api, amount=123456, currency="jpy"))
    page = payer.page
    assert page.status_code == 200
    html = page.content.decode()
    assert "Acme" in html
    assert "¥123,456" in html
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    # The only scripts: our file, and the state as a JSON data block (never executed).
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts == [' id="co-state" type="application/json"', ' src="/static/checkout/checkout.js" defer']
    assert 'name="csrfmiddlewaretoken"' in html


def test_an_unknown_session_is_a_404_page(api):
    response = Client().get("/checkout/cs_nothing")
    assert response.status_code == 404
    assert "does not exist" in response.content.decode()


def test_a_submission_without_the_csrf_token_is_refused(api):
    session_id = create_session(api)
    client = Client(enforce_csrf_checks=True)
    client.get(f"/checkout/{session_id}")
    response = client.post(
        f"/checkout/{session_id}/pay",
        {"attempt_key": "k" * 20, "method": "card", "card_number": "4242424242424242", "card_expiry": "12/39"},
    )
    assert response.status_code == 403
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"number": "4242 4242 4242 4241"}, "card_number"),
        ({"number": ""}, "card_number"),
        ({"expiry": "13 / 30"}, "card_expiry"),
        ({"expiry": "01 / 20"}, "card_expiry"),
        ({"expiry": "1230"}, "card_expiry"),
        ({"cvc": "12"}, "card_cvc"),
    ],
)
def test_the_card_is_checked_on_the_server_with_the_message_on_its_field(api, fields, field):
    payer = Payer(create_session(api))
    response = payer.card("a" * 20, **fields)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert "4241" not in errors[field]
    assert not Payment.objects.exists()


def test_a_card_payment_completes_the_session_once_whatever_the_resubmissions(api):
    session_id = create_session(api)
    payer = Payer(session_id)
    first = payer.card("attempt-one-0000000")
    assert first.status_code == 200, first.content
    assert (first.json()["payment"]["status"], first.json()["created"]) == ("processing", True)
    # A double submit (same key) and a second tab (its own key) while the payment is in flight: the same payment.
    again = payer.card("attempt-one-0000000")
    other_tab = Payer(session_id).card("attempt-two-0000000", number="5555 5555 5555 4444")
    assert again.json()["created"] is False
    assert other_tab.json()["created"] is False
    (payment,) = Payment.objects.all()
    assert (payment.card_last4, payment.payment_method.vault_entry_id is not None) == ("4242", True)

    assert drain() == ["payments.execute_attempt:succeeded"]
    state = payer.status()
    assert state["status"] == "complete"
    assert state["redirect"] == f"https://shop.test/thanks?session_id={session_id}"
    session = CheckoutSession.objects.get(pk=session_id)
    assert (session.status, session.payment_id, session.attempt_count) == ("complete", payment.id, 1)
    assert completed_events(session_id) == 1
    # After completion: a late submission makes nothing, a refresh goes to the merchant.
    assert payer.card("attempt-three-00000").json()["created"] is False
    refreshed = payer.client.get(f"/checkout/{session_id}")
    assert (refreshed.status_code, refreshed["Location"]) == (302, state["redirect"])
    assert Payment.objects.count() == 1
    assert completed_events(session_id) == 1
    assert api.get(f"/v1/checkout/sessions/{session_id}").json()["payment"] == payment.id


def test_after_a_decline_a_new_attempt_pays_with_another_card(api):
    session_id = create_session(api)
    payer = Payer(session_id)
    assert payer.card("attempt-one-0000000", number=DECLINED).status_code == 200
    drain()
    state = payer.status()
    assert (state["status"], state["payment"]["status"]) == ("open", "failed")
    assert state["payment"]["failure_message"] == "The card was declined."
    # The declined attempt's key again answers the declined payment; a new key is a new payment.
    assert payer.card("attempt-one-0000000").json()["created"] is False
    retried = payer.card("attempt-two-0000000")
    assert retried.json()["created"] is True
    drain()
    assert payer.status()["status"] == "complete"
    assert list(Payment.objects.order_by("id").values_list("status", flat=True)) == ["failed", "succeeded"]
    assert completed_events(session_id) == 1


def test_an_expired_session_takes_no_payment(api):
    session_id = create_session(api)
    payer = Payer(session_id)
    CheckoutSession.objects.filter(pk=session_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert payer.status()["status"] == "expired"
    assert payer.card("attempt-one-0000000").json()["status"] == "expired"
    assert "This payment page has expired" in payer.client.get(f"/checkout/{session_id}").content.decode()
    assert not Payment.objects.exists()


def test_upi_is_offered_only_where_the_session_allows_it(api):
    payer = Payer(create_session(api))
    response = payer.pay("attempt-one-0000000", method="upi")
    assert (response.status_code, response.json()["errors"]) == (400, {"form": "Choose a payment method."})
