"""``POST /v1/payments`` validates the usual body without a serializer (``_create_body_plain``): for every body it
takes, the validated data must be exactly the serializer's; every body it does not take is left to the serializer,
so error responses stay DRF's own (the API tests pin them)."""

from __future__ import annotations

from typing import Any

import pytest

from payments.api.payments import PaymentCreateInputSerializer, _create_body_plain

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2039, "cvc": "123"}


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"amount": 2000, "currency": "usd", "payment_method": {"type": "card", "card": CARD}}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not _DROP}


_DROP = object()

TAKEN = [
    _body(),
    _body(confirm=True),
    _body(confirm=False, off_session=False, capture_method="manual", description="Order 1", metadata={"a": "b"}),
    _body(payment_method="pm_card_visa"),
    _body(payment_method="pm_01ABC", confirm=True),
    _body(description="", metadata={}),
    _body(metadata={"k" * 40: "v" * 500, "empty": ""}),
    _body(currency="USD", amount=1),
    _body(payment_method={"type": "card", "card": {**CARD, "number": "4242 4242 4242 4242"}}),
    _body(amount=2**63 - 1),
]

LEFT_TO_THE_SERIALIZER = [
    _body(amount=True),
    _body(amount=20.0),
    _body(amount="2000"),
    _body(amount=2**63),
    _body(amount=_DROP),
    _body(currency=" usd"),
    _body(currency="us"),
    _body(currency=None),
    _body(currency=840),
    _body(payment_method="card_123"),
    _body(payment_method="pm_" + "x" * 62),
    _body(payment_method={"type": "upi", "upi": {"flow": "intent"}}),
    _body(payment_method={"type": "card"}),
    _body(payment_method={"type": "card", "card": CARD, "upi": {}}),
    _body(payment_method={"type": "card", "card": {**CARD, "number": " 4242424242424242"}}),
    _body(payment_method={"type": "card", "card": {**CARD, "number": "4" * 33}}),
    _body(payment_method={"type": "card", "card": {**CARD, "cvc": "12345"}}),
    _body(payment_method={"type": "card", "card": {**CARD, "cvc": 123}}),
    _body(payment_method={"type": "card", "card": {**CARD, "exp_month": "12"}}),
    _body(payment_method={"type": "card", "card": {**CARD, "extra": 1}}),
    _body(payment_method={"type": "card", "card": {k: v for k, v in CARD.items() if k != "cvc"}}),
    _body(payment_method=None),
    _body(confirm="true"),
    _body(confirm=1),
    _body(off_session=None),
    _body(capture_method="later"),
    _body(capture_method=["automatic"]),
    _body(description="line\nbreak"),
    _body(description=" padded"),
    _body(description="x" * 1001),
    _body(description=None),
    _body(metadata=None),
    _body(metadata={"k": 1}),
    _body(metadata={"k": " v"}),
    _body(metadata={"": "v"}),
    _body(metadata={"k" * 41: "v"}),
    _body(metadata={str(n): "v" for n in range(51)}),
    _body(metadata=["k"]),
    _body(customer="cus_1"),
    _body(customer_email="a@b.test"),
    _body(setup_future_usage="off_session"),
    _body(unknown=1),
    [],
    "body",
]


def _serializer(body: Any) -> dict[str, Any] | None:
    serializer = PaymentCreateInputSerializer(data=body)
    if not serializer.is_valid():
        return None
    return _plain(dict(serializer.validated_data))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


@pytest.mark.parametrize("body", TAKEN)
def test_a_usual_body_is_validated_exactly_as_the_serializer_validates_it(body):
    plain = _create_body_plain(body)
    assert plain is not None
    assert plain == _serializer(body)
    for key, value in plain.items():  # the same types too (a default's enum member stays that member)
        assert type(value) is type(_serializer(body)[key])  # type: ignore[index]


@pytest.mark.parametrize("body", LEFT_TO_THE_SERIALIZER)
def test_anything_else_is_left_to_the_serializer(body):
    assert _create_body_plain(body) is None
