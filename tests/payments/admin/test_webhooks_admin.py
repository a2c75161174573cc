"""The back office shows events, endpoints, deliveries and attempts; "resend" calls the delivery service."""

from __future__ import annotations

import pytest

from payments.enums import WebhookDeliveryStatus, WebhookEndpointStatus
from payments.models import WebhookDelivery, WebhookDeliveryAttempt
from payments.services.outbox_relay import outbox_relay_batch
from payments.services.webhook_deliveries import webhook_delivery_attempt
from tests.payments.webhook_support import add_events, capture_tasks, endpoint, merchant, receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_page_renders_and_resend_queues_the_delivery_again(admin_client, monkeypatch):
    sent = capture_tasks(monkeypatch)
    with receiver() as hook:
        hook.responses = [500]
        acme = merchant()
        issued = endpoint(acme, hook.url)
        add_events(acme, 1)
        outbox_relay_batch()
        delivery = WebhookDelivery.objects.get()
        webhook_delivery_attempt(delivery_id=delivery.id)
        attempt = WebhookDeliveryAttempt.objects.get()

        for path in (
            "/admin/payments/event/",
            f"/admin/payments/event/{delivery.event_id}/change/",
            "/admin/payments/webhookendpoint/",
            f"/admin/payments/webhookendpoint/{issued.endpoint.id}/change/",
            "/admin/payments/webhookdelivery/",
            f"/admin/payments/webhookdelivery/{delivery.id}/change/",
            "/admin/payments/webhookdeliveryattempt/",
            f"/admin/payments/webhookdeliveryattempt/{attempt.id}/change/",
        ):
            response = admin_client.get(path)
            assert response.status_code == 200, path
            assert issued.secret not in response.content.decode()
        page = admin_client.get(f"/admin/payments/webhookdelivery/{delivery.id}/change/").content.decode()
        assert "status 500" in page  # the response excerpt

        sent.calls.clear()
        response = admin_client.post(
            "/admin/payments/webhookdelivery/", {"action": "resend_delivery", "_selected_action": [delivery.id]}
        )
        assert response.status_code == 302
        assert sent.delivery_ids == [delivery.id]
        assert webhook_delivery_attempt(delivery_id=delivery.id).result == "succeeded"

        admin_client.post(
            "/admin/payments/webhookendpoint/", {"action": "disable", "_selected_action": [issued.endpoint.id]}
        )
        issued.endpoint.refresh_from_db()
        assert issued.endpoint.status == WebhookEndpointStatus.DISABLED
        admin_client.post(
            "/admin/payments/webhookendpoint/", {"action": "enable", "_selected_action": [issued.endpoint.id]}
        )
        issued.endpoint.refresh_from_db()
        assert issued.endpoint.status == WebhookEndpointStatus.ENABLED

        sent.calls.clear()
        admin_client.post("/admin/payments/event/", {"action": "resend_event", "_selected_action": [delivery.event_id]})
        assert sent.delivery_ids == [delivery.id]
        delivery.refresh_from_db()
        assert delivery.status == WebhookDeliveryStatus.PENDING
