"""PaymentIntents through the official Stripe SDK, unchanged but for ``api_base``."""

from __future__ import annotations

import time

import pytest
import stripe

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _retrieve_until_settled(intent_id: str, timeout: float = 60) -> stripe.PaymentIntent:
    deadline = time.monotonic() + timeout
    while True:
        intent = stripe.PaymentIntent.retrieve(intent_id)
        if intent.status != "processing" or time.monotonic() > deadline:
            return intent
        time.sleep(0.2)


def test_create_and_confirm_with_a_test_card_succeeds(stripe_key: str) -> None:
    intent = stripe.PaymentIntent.create(
        amount=2000, currency="usd", payment_method="pm_card_visa", metadata={"order": "1001"}
    )
    assert intent.object == "payment_intent"
    assert intent.status == "requires_confirmation"
    assert isinstance(intent.created, int)
    assert intent.metadata["order"] == "1001"

    confirmed = stripe.PaymentIntent.confirm(intent.id)
    assert confirmed.status in ("processing", "succeeded")
    settled = _retrieve_until_settled(intent.id)
    assert settled.status == "succeeded"
    assert settled.amount_received == 2000
    assert settled.latest_charge
    assert settled.last_payment_error is None


def test_a_decline_raises_card_error_and_the_intent_needs_another_method(stripe_key: str) -> None:
    with pytest.raises(stripe.CardError) as raised:
        stripe.PaymentIntent.create(amount=2000, currency="usd", payment_method="pm_card_chargeDeclined", confirm=True)
    error = raised.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.error.decline_code == "generic_decline"
    intent_id = error.error.payment_intent["id"]
    intent = stripe.PaymentIntent.retrieve(intent_id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "card_declined"


def test_a_negative_amount_is_an_invalid_request_naming_amount(stripe_key: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.PaymentIntent.create(amount=-100, currency="usd", payment_method="pm_card_visa")
    assert raised.value.param == "amount"
    assert raised.value.http_status == 400


def test_an_unknown_id_is_a_404(stripe_key: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.PaymentIntent.retrieve("pay_doesnotexist")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"


def test_a_wrong_key_is_an_authentication_error(stripe_key: str) -> None:
    with pytest.raises(stripe.AuthenticationError):
        stripe.PaymentIntent.list(api_key="sk_test_wrong")


def test_lists_page_automatically(stripe_key: str) -> None:
    created = [
        stripe.PaymentIntent.create(amount=1000 + i, currency="usd", payment_method="pm_card_visa").id for i in range(5)
    ]
    first = stripe.PaymentIntent.list(limit=2)
    assert first.has_more is True
    assert len(first.data) == 2
    seen = [intent.id for intent in stripe.PaymentIntent.list(limit=2).auto_paging_iter()]
    assert seen == list(reversed(created))


def test_manual_capture_and_cancel(stripe_key: str) -> None:
    intent = stripe.PaymentIntent.create(
        amount=5000, currency="usd", payment_method="pm_card_visa", capture_method="manual", confirm=True
    )
    intent = _retrieve_until_settled(intent.id)
    assert intent.status == "requires_capture"
    assert intent.amount_capturable == 5000
    captured = stripe.PaymentIntent.capture(intent.id, amount_to_capture=4000)
    assert captured.amount_received == 4000

    other = stripe.PaymentIntent.create(amount=700, currency="usd", payment_method="pm_card_visa")
    canceled = stripe.PaymentIntent.cancel(other.id, cancellation_reason="requested_by_customer")
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "requested_by_customer"


def test_an_idempotent_retry_replays_the_outcome(stripe_key: str) -> None:
    first = stripe.PaymentIntent.create(
        amount=2500, currency="usd", payment_method="pm_card_visa", confirm=True, idempotency_key="order-77"
    )
    again = stripe.PaymentIntent.create(
        amount=2500, currency="usd", payment_method="pm_card_visa", confirm=True, idempotency_key="order-77"
    )
    assert again.id == first.id
    assert again.status == first.status
    with pytest.raises(stripe.IdempotencyError):
        stripe.PaymentIntent.create(
            amount=2600, currency="usd", payment_method="pm_card_visa", idempotency_key="order-77"
        )
