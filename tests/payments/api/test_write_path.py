"""The lean write path of ``POST /v1/payments`` with confirm: what reaches PostgreSQL, statement by statement.

Transactional tests, so the request's transaction is a real one (inside a test transaction it would be a
savepoint) and the statements seen are the ones production sends.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.models import IdempotencyKey, OutboxMessage, Payment
from tests.payments.conftest import card_payment_body, make_api

pytestmark = pytest.mark.django_db(transaction=True)


def _post(api, key: str, **overrides):
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/v1/payments", card_payment_body(confirm=True, **overrides), key=key)
    return response, [q["sql"] for q in queries.captured_queries]


def test_a_confirmed_payment_is_one_lock_no_savepoint_one_outbox_insert_and_the_key_written_once():
    api = make_api()
    api.get("/v1/merchant")  # the key is now read and cached, as on every request after a process's first
    response, statements = _post(api, "order-1")
    assert response.status_code == 200, response.content

    assert not [sql for sql in statements if "SAVEPOINT" in sql.upper()]
    # The lock first, with the look for the key's row; the key's row inserted once, completed, after the work.
    statements = [sql for sql in statements if sql not in {"BEGIN", "COMMIT"}]
    (lock,) = [sql for sql in statements if "pg_try_advisory_xact_lock" in sql]
    assert statements.index(lock) == 0
    assert "payments_idempotencykey" in lock
    assert "INSERT" not in lock
    (key_row,) = [sql for sql in statements if "payments_idempotencykey" in sql and sql is not lock]
    assert key_row.lstrip().startswith("INSERT")
    assert "'completed'" in key_row
    assert statements.index(key_row) == len(statements) - 1
    # One insert statement carried both outbox rows.
    (_outbox,) = [sql for sql in statements if 'INSERT INTO "payments_outboxmessage"' in sql]
    # And one statement every other new row: vault entry, payment method, payment, attempt, both history rows.
    (rows,) = [sql for sql in statements if 'INSERT INTO "payments_payment"' in sql]
    for table in ("cardvaultentry", "paymentmethod", "paymentattempt", "paymentstatechange"):
        assert f'INSERT INTO "payments_{table}"' in rows
    assert rows.count('INSERT INTO "payments_paymentstatechange"') == 1  # the two history rows, one multi-row insert
    assert OutboxMessage.objects.filter(aggregate_id=response.json()["id"]).count() == 2  # command and event
    assert not [sql for sql in statements if '"payments_apikey"' in sql]  # the cached key


def test_a_failure_after_the_claim_is_rolled_back_and_stored_under_the_key(monkeypatch):
    """No savepoint: the failed work's transaction is rolled back whole, and a second one stores the error."""
    from payments.api import payments as payment_views

    api = make_api()

    def broken(**kwargs):
        Payment.objects.create(merchant=api.merchant, livemode=False, amount=100, currency="usd")
        raise RuntimeError("boom")

    monkeypatch.setattr(payment_views, "payment_create", broken)
    failed, statements = _post(api, "order-2")
    assert failed.status_code == 500
    assert not [sql for sql in statements if "SAVEPOINT" in sql.upper()]
    assert not Payment.objects.exists()
    stored = IdempotencyKey.objects.get(key="order-2")
    assert stored.response_status == 500
    replay, _ = _post(api, "order-2")
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (500, "true")
    assert replay.content == failed.content
