"""The application's PostgreSQL connections give up on long statements and lock waits; the API answers 503 +
Retry-After then, with nothing written."""

from __future__ import annotations

import pytest
from django.db import connection

from payments.enums import PaymentStatus
from payments.models import Payment, PaymentStateChange
from tests.conftest import owner_connection
from tests.payments.conftest import card_payment_body, make_api


def _show(setting: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {setting}")
        return str(cursor.fetchone()[0])


@pytest.mark.django_db
def test_the_application_connection_has_timeouts_and_the_owner_none():
    assert _show("statement_timeout") == "1min"
    assert _show("lock_timeout") == "10s"
    with owner_connection() as owner:
        assert owner.execute("SHOW lock_timeout").fetchone() == ("0",)
        assert owner.execute("SHOW statement_timeout").fetchone() == ("0",)


@pytest.fixture
def short_lock_timeout(transactional_db, psp_settings, sandbox):
    """The same mechanism (the connection's startup options) with a lock timeout short enough for a test."""
    options = connection.settings_dict.setdefault("OPTIONS", {})
    original = options.get("options")
    connection.close()
    options["options"] = "-c statement_timeout=60000 -c lock_timeout=300"
    try:
        yield
    finally:
        connection.close()
        if original is None:
            options.pop("options", None)
        else:
            options["options"] = original


def test_a_request_waiting_on_a_locked_row_gets_503_retry_after_and_writes_nothing(short_lock_timeout):
    api = make_api()
    payment_id = api.post("/v1/payments", card_payment_body()).json()["id"]
    assert _show("lock_timeout") == "300ms"
    with owner_connection() as owner:
        # Someone else (a long transaction, an operator's session) holds the payment's row.
        owner.execute("SELECT id FROM payments_payment WHERE id = %s FOR UPDATE", [payment_id])
        response = api.post(f"/v1/payments/{payment_id}/cancel")
        owner.rollback()
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "service_unavailable"
    payment = Payment.objects.get(pk=payment_id)
    assert payment.status == PaymentStatus.REQUIRES_CONFIRMATION
    assert not PaymentStateChange.objects.filter(payment_id=payment_id, to_status=PaymentStatus.CANCELED).exists()
    # Once the lock is gone the same request goes through.
    assert api.post(f"/v1/payments/{payment_id}/cancel").status_code == 200
