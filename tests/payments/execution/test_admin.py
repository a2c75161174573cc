"""The back office's queue of attempts a person must resolve, and its two actions."""

from __future__ import annotations

from payments.models import OutboxMessage, PaymentAttempt
from tests.payments.conftest import card_payment_body
from tests.payments.execution.conftest import drain


def test_flagged_attempts_are_listed_checked_and_marked_reviewed(api, sandbox, admin_client):
    sandbox.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "lose_response"})
    api.post("/v1/payments", card_payment_body(confirm=True))
    drain()
    attempt = PaymentAttempt.objects.get()
    PaymentAttempt.objects.filter(pk=attempt.pk).update(review_reason="unresolved: test")
    page = admin_client.get("/admin/payments/paymentattempt/?needs_review=yes")
    assert page.status_code == 200
    assert attempt.id in page.content.decode()
    assert admin_client.get(f"/admin/payments/paymentattempt/{attempt.id}/change/").status_code == 200
    admin_client.post("/admin/payments/paymentattempt/", {"action": "check_now", "_selected_action": [attempt.id]})
    assert OutboxMessage.objects.filter(topic="payments.check_attempt").count() == 1
    assert drain() == ["payments.check_attempt:succeeded"]
    admin_client.post("/admin/payments/paymentattempt/", {"action": "mark_reviewed", "_selected_action": [attempt.id]})
    assert PaymentAttempt.objects.get().review_reason == ""
    assert admin_client.get("/admin/payments/providerevent/").status_code == 200
    assert admin_client.get("/admin/payments/merchantpricing/add/").status_code == 200
