"""Refunds, customers and saved cards through the official Stripe SDK."""

from __future__ import annotations

import time

import pytest
import stripe

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _until(fetch, done, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _succeeded_intent(amount: int = 3000) -> stripe.PaymentIntent:
    intent = stripe.PaymentIntent.create(amount=amount, currency="usd", payment_method="pm_card_visa", confirm=True)
    return _until(lambda: stripe.PaymentIntent.retrieve(intent.id), lambda i: i.status != "processing")


def test_a_partial_refund_of_a_payment_intent(stripe_key: str) -> None:
    intent = _succeeded_intent(3000)
    assert intent.status == "succeeded"

    refund = stripe.Refund.create(payment_intent=intent.id, amount=1000, reason="requested_by_customer")
    assert refund.object == "refund"
    assert refund.amount == 1000
    assert refund.payment_intent == intent.id
    assert refund.status in ("pending", "succeeded")
    settled = _until(lambda: stripe.Refund.retrieve(refund.id), lambda r: r.status != "pending")
    assert settled.status == "succeeded"
    assert stripe.PaymentIntent.retrieve(intent.id).amount_refunded == 1000

    listed = stripe.Refund.list(payment_intent=intent.id)
    assert [r.id for r in listed.data] == [refund.id]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.Refund.create(payment_intent=intent.id, amount=2001)
    assert raised.value.param == "amount"


def test_a_customer_with_a_saved_card_pays_off_session(stripe_key: str) -> None:
    customer = stripe.Customer.create(email="jenny@example.test", name="Jenny", metadata={"tier": "gold"})
    assert customer.object == "customer"
    assert isinstance(customer.created, int)
    card = stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id)
    assert card.customer == customer.id
    assert card.card.last4 == "4242"

    saved = stripe.PaymentMethod.list(customer=customer.id, type="card")
    assert [m.id for m in saved.data] == [card.id]
    assert [m.id for m in stripe.Customer.list_payment_methods(customer.id).data] == [card.id]

    intent = stripe.PaymentIntent.create(
        amount=1500, currency="usd", customer=customer.id, payment_method=card.id, off_session=True, confirm=True
    )
    settled = _until(lambda: stripe.PaymentIntent.retrieve(intent.id), lambda i: i.status != "processing")
    assert settled.status == "succeeded"
    assert settled.customer == customer.id
    assert settled.payment_method == card.id

    updated = stripe.Customer.modify(customer.id, name="Jenny R", metadata={"tier": ""})
    assert updated.name == "Jenny R"
    assert "tier" not in updated.metadata
    detached = stripe.PaymentMethod.detach(card.id)
    assert detached.customer is None
    assert stripe.PaymentMethod.list(customer=customer.id).data == []
    deleted = stripe.Customer.delete(customer.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.Customer.retrieve(customer.id)
    assert raised.value.http_status == 404


def test_a_card_saved_while_paying_is_listed_on_the_customer(stripe_key: str) -> None:
    customer = stripe.Customer.create(email="sam@example.test")
    intent = stripe.PaymentIntent.create(
        amount=900,
        currency="usd",
        customer=customer.id,
        payment_method="pm_card_mastercard",
        setup_future_usage="off_session",
        confirm=True,
    )
    saved = stripe.PaymentMethod.list(customer=customer.id)
    assert [m.id for m in saved.data] == [intent.payment_method]
    assert saved.data[0].card.brand == "mastercard"
