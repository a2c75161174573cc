"""``GET /v1/events``: filters, pagination, tenant and mode isolation, and the same JSON the webhooks carry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import Event
from payments.services.merchants import api_key_create, merchant_create
from payments.services.outbox_relay import outbox_relay_drain
from payments.services.webhook_deliveries import webhook_delivery_attempt
from tests.payments.webhook_support import add_events, capture_tasks, endpoint, receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(monkeypatch):
    capture_tasks(monkeypatch)
    merchant, issued = merchant_create(name="Acme", email="ops@acme.test")
    return merchant, {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def _ids(client, auth, **params):
    response = client.get("/v1/events", params, **auth)
    assert response.status_code == 200, response.content
    return [e["id"] for e in response.json()["data"]]


def test_the_api_shows_the_event_exactly_as_the_webhook_delivered_it(client, acme):
    merchant, auth = acme
    with receiver() as hook:
        endpoint(merchant, hook.url)
        add_events(merchant, 1)
        outbox_relay_drain()
        event = Event.objects.get()
        before = client.get(f"/v1/events/{event.id}", **auth).json()
        assert before["pending_webhooks"] == 1
        webhook_delivery_attempt(delivery_id=event.deliveries.get().id)
        (request,) = hook.requests

    shown = client.get(f"/v1/events/{event.id}", **auth).json()
    assert shown.pop("pending_webhooks") == 0
    assert shown == request.event
    assert shown["object"] == "event"
    assert shown["data"]["object"]["id"] == "pay_0"
    assert shown["created"].endswith("Z")


def test_filters_by_type_created_and_delivery_success(client, acme):
    merchant, auth = acme
    with receiver() as hook:
        hook.responses = [500]
        endpoint(merchant, hook.url)
        add_events(merchant, 2, event_type="payment.succeeded")
        add_events(merchant, 1, event_type="refund.failed")
        outbox_relay_drain()
        events = {e.id: e for e in Event.objects.all()}
        failed = Event.objects.order_by("id").first()
        webhook_delivery_attempt(delivery_id=failed.deliveries.get().id)  # gets the 500
        for event in events.values():
            if event.id != failed.id:
                webhook_delivery_attempt(delivery_id=event.deliveries.get().id)

    assert len(_ids(client, auth)) == 3
    assert len(_ids(client, auth, type="payment.succeeded")) == 2
    assert len(_ids(client, auth, type="payment.*")) == 2
    assert len(_ids(client, auth, type="refund.failed")) == 1
    assert _ids(client, auth, delivery_success="false") == [failed.id]
    assert failed.id not in _ids(client, auth, delivery_success="true")

    old = next(e for e in events.values() if e.id != failed.id)
    Event.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=2))
    day_ago = timezone.now() - timedelta(days=1)
    assert old.id not in _ids(client, auth, **{"created[gte]": day_ago.isoformat()})
    assert _ids(client, auth, **{"created[lte]": str(int(day_ago.timestamp()))}) == [old.id]
    bad = client.get("/v1/events", {"created[gte]": "yesterday"}, **auth)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "created[gte]"


def test_pages_walk_newest_first(client, acme):
    merchant, auth = acme
    add_events(merchant, 25)
    outbox_relay_drain()
    expected = list(Event.objects.order_by("-id").values_list("id", flat=True))
    seen, cursor = [], None
    while True:
        body = client.get("/v1/events", {"limit": 10, **({"starting_after": cursor} if cursor else {})}, **auth).json()
        seen += [e["id"] for e in body["data"]]
        if not body["has_more"]:
            break
        cursor = body["data"][-1]["id"]
    assert seen == expected
    assert body["url"] == "/v1/events"


def test_another_merchants_and_the_other_modes_events_do_not_exist(client, acme):
    merchant, auth = acme
    _, other = merchant_create(name="Other", email="ops@other.test")
    other_auth = {"HTTP_AUTHORIZATION": f"Bearer {other.secret}"}
    live_auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(merchant=merchant, livemode=True).secret}"}
    add_events(merchant, 2)
    add_events(merchant, 1, livemode=True)
    outbox_relay_drain()
    test_event = Event.objects.filter(livemode=False).first()
    live_event = Event.objects.get(livemode=True)

    assert len(_ids(client, auth)) == 2
    assert _ids(client, live_auth) == [live_event.id]
    assert _ids(client, other_auth) == []
    assert client.get(f"/v1/events/{test_event.id}", **other_auth).status_code == 404
    assert client.get(f"/v1/events/{test_event.id}", **live_auth).status_code == 404
    assert client.get(f"/v1/events/{live_event.id}", **auth).status_code == 404
    missing = client.get(f"/v1/events/{test_event.id}", **other_auth).json()["error"]
    assert (missing["type"], missing["code"]) == ("invalid_request_error", "resource_missing")


def test_listing_costs_the_same_queries_for_one_event_or_a_full_page(client, acme):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    merchant, auth = acme
    with receiver() as hook:
        endpoint(merchant, hook.url)
        add_events(merchant, 1)
        outbox_relay_drain()
        client.get("/v1/events", **auth)  # warm: last_used_at written once a minute
        with CaptureQueriesContext(connection) as one:
            client.get("/v1/events", **auth)
        add_events(merchant, 30)
        outbox_relay_drain()
        with CaptureQueriesContext(connection) as page:
            client.get("/v1/events", {"limit": 100, "delivery_success": "false"}, **auth)
    # The page only: the key was read once and is kept (authentication), pending_webhooks is an aggregate.
    assert len(page) == len(one) == 1
