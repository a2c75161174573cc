"""Webhooks in Stripe's shape, events, and the account's money, through the official Stripe SDK."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.payments.webhook_support import receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _succeeded_intent(amount: int) -> stripe.PaymentIntent:
    intent = stripe.PaymentIntent.create(amount=amount, currency="usd", payment_method="pm_card_visa", confirm=True)
    deadline = time.monotonic() + 60
    while intent.status == "processing" and time.monotonic() < deadline:
        time.sleep(0.2)
        intent = stripe.PaymentIntent.retrieve(intent.id)
    assert intent.status == "succeeded"
    return intent


def test_an_endpoint_created_with_the_sdk_receives_events_construct_event_verifies(stripe_key: str) -> None:
    with receiver() as hook:
        endpoint = stripe.WebhookEndpoint.create(
            url=hook.url, enabled_events=["payment_intent.succeeded", "charge.refunded"], description="shop"
        )
        assert endpoint.object == "webhook_endpoint"
        assert endpoint.secret.startswith("whsec_")
        assert sorted(endpoint.enabled_events) == ["charge.refunded", "payment_intent.succeeded"]

        intent = _succeeded_intent(4000)
        stripe.Refund.create(payment_intent=intent.id, amount=1500)
        hook.wait_for(2, timeout=90)

    events = {}
    for request in hook.requests:
        event = stripe.Webhook.construct_event(request.body, request.headers["Stripe-Signature"], endpoint.secret)
        events[event.type] = event
    assert set(events) == {"payment_intent.succeeded", "charge.refunded"}
    succeeded = events["payment_intent.succeeded"].data.object
    assert succeeded.object == "payment_intent"
    assert succeeded.id == intent.id
    assert succeeded.amount_received == 4000
    refunded = events["charge.refunded"].data.object
    assert refunded.object == "charge"
    assert refunded.payment_intent == intent.id
    assert refunded.amount_refunded == 1500

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            hook.requests[0].body, hook.requests[0].headers["Stripe-Signature"], "whsec_not_the_secret"
        )
    listed = stripe.Event.list(type="payment_intent.succeeded")
    assert [e.data.object.id for e in listed.data] == [intent.id]
    assert stripe.Event.retrieve(listed.data[0].id).type == "payment_intent.succeeded"


def test_an_event_type_ledgerline_never_sends_is_refused_by_name(stripe_key: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.WebhookEndpoint.create(url="https://example.com/hooks", enabled_events=["invoice.paid"])
    assert raised.value.param == "enabled_events"


def test_balance_transactions_and_payouts(stripe_key: str) -> None:
    _succeeded_intent(5000)
    balance = stripe.Balance.retrieve()
    assert balance.object == "balance"
    pending = {b.currency: b.amount for b in balance.pending}
    assert pending["usd"] > 0

    transactions = stripe.BalanceTransaction.list(limit=5)
    assert transactions.data
    assert transactions.data[0].object == "balance_transaction"
    assert isinstance(transactions.data[0].created, int)

    # Nothing is available yet (the money is pending): Stripe's error for it, naming nothing the SDK cannot read.
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Payout.create(amount=100, currency="usd")
    assert stripe.Payout.list().data == []
    assert stripe.Dispute.list().data == []
