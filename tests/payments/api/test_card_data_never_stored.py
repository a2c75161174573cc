"""A card number goes nowhere but the vault: not the database (any other table, any column, and the vault only as
ciphertext), not the logs (the API's or the executor's, which tokenizes it), not error bodies."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from django.db import connection

from core.logging import json_formatter
from payments.api import payments as payment_views
from payments.models import CardVaultEntry, Payment
from payments.services.vault import vault_card_reveal
from tests.payments.conftest import card_method, card_payment_body, make_api
from tests.payments.execution.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)

# A valid Mastercard test number nobody else in the suite uses, so any hit is this test's leak.
NUMBER = "5105105105105100"


@pytest.fixture
def all_logs():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _database_text() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT t::text FROM "{table}" AS t')  # noqa: S608 - table names from introspection
            chunks.extend(row[0] for row in cursor.fetchall())
    return "\n".join(chunks)


def test_the_card_number_is_never_stored_or_logged(all_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api()
    bodies: list[Any] = []
    spaced = " ".join(NUMBER[i : i + 4] for i in range(0, 16, 4))

    # a successful create + confirm, replayed
    for _ in range(2):
        bodies.append(
            api.post(
                "/v1/payments", card_payment_body(payment_method=card_method(spaced), confirm=True), key="k1"
            ).content
        )
    # validation failures with the number in the request
    bodies.append(api.post("/v1/payments", card_payment_body(payment_method=card_method(NUMBER, cvc="1"))).content)
    bodies.append(
        api.post(
            "/v1/payments", card_payment_body(payment_method=card_method(NUMBER), currency="zzz"), key="k2"
        ).content
    )

    # a crash after the service ran, stored under its key
    def crash(**kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(payment_views, "payment_create", crash)
    bodies.append(api.post("/v1/payments", card_payment_body(payment_method=card_method(NUMBER)), key="k3").content)

    # the executor tokenizes the card at the acquirer and authorizes it (the one place the number leaves the vault)
    assert drain() == ["payments.execute_attempt:succeeded"]

    text = _database_text()
    assert "5100" in text  # the last 4 are kept, and the scan did read the payments
    # The vault is the one place that holds the number, as ciphertext only: exactly the one card that was accepted.
    (entry,) = CardVaultEntry.objects.all()
    assert vault_card_reveal(entry_id=entry.id).number == NUMBER
    assert Payment.objects.get().payment_method.vault_entry_id == entry.id
    for needle in (NUMBER, spaced, NUMBER[:12], NUMBER.encode().hex()):
        assert needle not in text
        assert needle not in all_logs.getvalue()
        assert all(needle.encode() not in body for body in bodies)
    assert "request_finished" in all_logs.getvalue()  # the capture did see the requests
