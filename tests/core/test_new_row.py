"""``core.db.new_row`` builds the instance ``Model(**values)`` builds: every column's value (defaults included), the
related objects it caches, its state; and refuses what ``Model(**values)`` refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Model
from django.db.models.expressions import DatabaseDefault
from django.db.models.signals import post_init

from core.db import new_row
from payments.models import (
    CardVaultEntry,
    Merchant,
    OutboxMessage,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentStateChange,
)


def _state(obj: Model) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in obj.__dict__.items():
        if name == "_state":
            values[name] = (value.adding, value.db, dict(value.fields_cache))
        elif isinstance(value, DatabaseDefault):
            values[name] = ("db_default", value.expression)  # a new expression object per instance, both ways
        else:
            values[name] = value
    return values


def _cases() -> Iterator[tuple[type[Model], dict[str, Any]]]:
    merchant = Merchant(id="mch_test", name="M")
    vault = CardVaultEntry(id="vlt_test", merchant=merchant, kek_id="k", wrapped_key=b"w", card_ciphertext=b"c")
    method = PaymentMethod(id="pm_test", merchant=merchant, livemode=False, type="card", vault_entry=vault)
    payment = Payment(id="pay_test", merchant=merchant, livemode=False, amount=100, currency="usd")
    attempt = PaymentAttempt(id="att_test", payment=payment, merchant_id=merchant.id, operation="authorize")
    yield (
        Payment,
        {
            "id": "pay_x",
            "merchant": merchant,
            "livemode": True,
            "amount": 2000,
            "currency": "usd",
            "capture_method": "manual",
            "metadata": {"a": "b"},
            "customer": None,
            "payment_method": method,
            "status": "processing",
        },
    )
    yield (
        PaymentStateChange,
        {
            "payment": payment,
            "merchant_id": merchant.id,
            "from_status": "",
            "to_status": "processing",
            "transition": "confirm",
            "attempt": attempt,
            "request_id": "req",
        },
    )
    yield PaymentAttempt, {"id": "att_x", "payment": payment, "merchant_id": "mch_test", "amount": 5, "refund": None}
    yield OutboxMessage, {"merchant_id": "mch_test", "kind": "event", "topic": "t", "payload": {"x": 1}}
    yield PaymentMethod, {"id": "pm_x", "merchant_id": "mch_test", "vault_entry": vault, "metadata": {}}
    yield CardVaultEntry, {"id": "vlt_x", "merchant_id": "mch_test", "kek_id": "k", "wrapped_key": b"w"}


@pytest.mark.parametrize(("model", "values"), list(_cases()), ids=lambda case: getattr(case, "__name__", ""))
def test_the_same_instance_as_the_model_s_own_constructor(model: type[Model], values: dict[str, Any]) -> None:
    built, expected = new_row(model, **values), model(**values)
    assert type(built) is model
    mine, django_s = _state(built), _state(expected)
    for field in model._meta.concrete_fields:
        if callable(field.default) and field.name not in values and isinstance(mine[field.attname], str):
            # A fresh id or key per instance: the same kind of value, not the same value.
            ours, theirs = mine.pop(field.attname), django_s.pop(field.attname)
            assert (ours.split("_")[0], len(ours)) == (theirs.split("_")[0], len(theirs))
    assert mine == django_s


def test_defaults_made_by_a_callable_are_made_for_each_instance() -> None:
    first, second = new_row(OutboxMessage, topic="t"), new_row(OutboxMessage, topic="t")
    assert first.payload == {}
    assert first.payload is not second.payload


def test_an_unknown_argument_is_refused_as_the_model_refuses_it() -> None:
    with pytest.raises(TypeError, match="unexpected keyword arguments: colour"):
        new_row(OutboxMessage, colour="red")
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        OutboxMessage(colour="red")


def test_a_model_with_post_init_receivers_is_built_by_django() -> None:
    seen: list[Model] = []

    def receiver(sender: Any, instance: Model, **kwargs: Any) -> None:
        seen.append(instance)

    post_init.connect(receiver, sender=OutboxMessage)
    try:
        built = new_row(OutboxMessage, topic="t")
    finally:
        post_init.disconnect(receiver, sender=OutboxMessage)
    assert seen == [built]
