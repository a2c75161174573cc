"""The payment's representation is a plain function (it is built on every write and read of a payment); DRF's
PaymentSerializer still describes it in the schema and renders lists. The two must never differ."""

from __future__ import annotations

from payments.models import Payment
from payments.representations import PaymentSerializer, payment_representation
from payments.services.payment_methods import customer_create
from tests.payments.conftest import card_payment_body, upi_payment_body
from tests.payments.execution.conftest import drain


def _serializer(payment: Payment) -> dict:
    return dict(PaymentSerializer(payment).data)


def test_the_plain_representation_is_the_serializers_in_every_state(api, sandbox):
    customer = customer_create(merchant=api.merchant, livemode=False, email="jo@example.test")
    bodies = [
        card_payment_body(confirm=True, metadata={"order": "7", "note": ""}, description="two mugs"),
        card_payment_body(confirm=True, capture_method="manual", customer=customer.id),
        card_payment_body(confirm=True, payment_method="pm_card_chargeDeclined"),
        card_payment_body(confirm=False, customer_email="pay@example.test"),
        {**upi_payment_body(), "confirm": True},
    ]
    created = []
    for body in bodies:
        response = api.post("/v1/payments", body)
        assert response.status_code == 200, response.content
        created.append(response.json())
    drain()
    statuses = set()
    for answer in created:
        payment = Payment.objects.get(pk=answer["id"])
        statuses.add(payment.status)
        assert payment_representation(payment) == _serializer(payment)
        # What the API answered at creation has the same shape (and the same values, but for the state since).
        assert answer.keys() == payment_representation(payment).keys()
        assert api.get(f"/v1/payments/{payment.id}").json() == _serializer(payment)
    # The states above cover attempts finished and not, a next action, a failure and a manual capture.
    assert {"succeeded", "requires_capture", "failed", "requires_confirmation", "requires_action"} <= statuses
