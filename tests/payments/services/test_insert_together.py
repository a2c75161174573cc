"""``core.db.insert_together`` (the payment write path's one-statement insert on PostgreSQL) writes exactly the rows
the ORM writes: the same payment created both ways, every stored column compared, and what the instances hold after
the insert (ids, database defaults) compared with the stored rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from core import db as core_db
from payments.models import (
    CardVaultEntry,
    OutboxMessage,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentStateChange,
)
from tests.payments.conftest import card_payment_body, make_api

pytestmark = pytest.mark.django_db

# Values that differ between any two payments, whichever path wrote them: fresh ids, random keys and
# ciphertexts, the clock. Each is checked for its shape instead.
_PER_PAYMENT = {"id", "payment_id", "payment_method_id", "vault_entry_id", "attempt_id", "aggregate_id"}
_RANDOM = {"idempotency_key", "wrapped_key", "card_ciphertext", "cvc_ciphertext", "request_id"}


def _rows(payment_id: str) -> dict[str, list[dict[str, Any]]]:
    payment = Payment.objects.get(pk=payment_id)
    method = PaymentMethod.objects.get(pk=payment.payment_method_id)
    found: dict[str, list[Model]] = {
        "payment": [payment],
        "method": [method],
        "vault": [CardVaultEntry.objects.get(pk=method.vault_entry_id)],
        "attempts": list(PaymentAttempt.objects.filter(payment_id=payment_id).order_by("id")),
        "history": list(PaymentStateChange.objects.filter(payment_id=payment_id).order_by("id")),
        "outbox": list(OutboxMessage.objects.filter(aggregate_id=payment_id).order_by("id")),
    }
    return {name: [_columns(obj) for obj in objs] for name, objs in found.items()}


def _columns(obj: Model) -> dict[str, Any]:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def _comparable(rows: dict[str, list[dict[str, Any]]], ids: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items() if key not in {"created"}}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        if isinstance(value, str):
            for real, token in ids.items():
                value = value.replace(real, token)
        return value

    out: dict[str, list[dict[str, Any]]] = {}
    for name, objs in rows.items():
        out[name] = []
        for columns in objs:
            kept = {}
            for key, value in columns.items():
                if key in _RANDOM or isinstance(value, datetime) or (key == "id" and isinstance(value, int)):
                    kept[key] = type(value).__name__  # present, of the same type; its value is the clock's
                elif key in _PER_PAYMENT or key in {"payload"}:
                    kept[key] = scrub(value)
                else:
                    kept[key] = value
            out[name].append(kept)
    return out


def _create(api: Any, key: str) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    response = api.post("/v1/payments", card_payment_body(confirm=True, metadata={"order": "1"}), key=key)
    assert response.status_code == 200, response.content
    body = response.json()
    rows = _rows(body["id"])
    ids = {body["id"]: "<payment>", body["attempts"][0]["id"]: "<attempt>"}
    ids[rows["method"][0]["id"]] = "<method>"
    ids[rows["vault"][0]["id"]] = "<vault>"
    return body, _comparable(rows, ids)


def test_a_payment_inserted_together_is_stored_exactly_as_the_orm_stores_it(monkeypatch):
    api = make_api()
    with CaptureQueriesContext(connection) as queries:
        fast_body, fast_rows = _create(api, "fast")
    if connection.vendor == "postgresql":  # the one-statement path really ran (not a silent fall back to the ORM)
        (together,) = [q["sql"] for q in queries.captured_queries if 'INSERT INTO "payments_payment"' in q["sql"]]
        assert "jsonb_populate_recordset" in together
    with monkeypatch.context() as patched:
        patched.setattr(core_db, "_insert_shape", lambda model, with_pk: None)  # every row through the ORM
        orm_body, orm_rows = _create(api, "orm")

    assert fast_rows == orm_rows
    # And the response (the event's payload too) is the same but for ids and the clock.
    assert _response(fast_body) == _response(orm_body)


def _response(body: dict[str, Any]) -> Any:
    ids = {body["id"]: "<payment>", body["payment_method"]["id"]: "<method>"}
    ids.update({attempt["id"]: f"<attempt{n}>" for n, attempt in enumerate(body["attempts"])})

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: scrub(item) if key != "created" else type(item).__name__ for key, item in value.items()}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return ids.get(value, value) if isinstance(value, str) else value

    return scrub(body)


def test_the_instances_hold_what_the_database_filled_in():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's")
    api = make_api()
    payment = Payment(merchant=api.merchant, livemode=False, amount=500, currency="usd", payment_method_type="card")
    changes = [
        PaymentStateChange(
            payment=payment, merchant_id=api.merchant.id, to_status="requires_confirmation", transition=transition
        )
        for transition in ("create", "again", "third")
    ]
    messages = [
        OutboxMessage(merchant_id=api.merchant.id, kind="event", topic=f"t{n}", payload={"n": n, "x": [None, True]})
        for n in range(3)
    ]
    core_db.insert_together([payment, *changes, *messages])

    stored = Payment.objects.get(pk=payment.pk)
    assert (payment.created, payment.updated) == (stored.created, stored.updated)
    assert not payment._state.adding
    # Ids from a sequence follow the list's order, as bulk_create's do.
    assert [c.pk for c in changes] == sorted(c.pk for c in changes)
    for change in changes:
        assert PaymentStateChange.objects.get(pk=change.pk).transition == change.transition
        assert change.created == PaymentStateChange.objects.get(pk=change.pk).created
    for message in messages:
        row = OutboxMessage.objects.get(pk=message.pk)
        assert (row.topic, row.payload, row.created, row.available_at) == (
            message.topic,
            message.payload,
            message.created,
            message.available_at,
        )
    assert stored.next_action is None  # a JSON field's None is SQL NULL, as the ORM stores it
    assert Payment.objects.filter(pk=payment.pk, next_action__isnull=True).exists()
