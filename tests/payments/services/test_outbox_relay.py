"""The outbox relay: every row becomes exactly one event (or one sent command), whatever crashes or competes."""

from __future__ import annotations

import sys
import textwrap
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from payments.enums import WebhookDeliveryStatus
from payments.models import Event, OutboxMessage, WebhookDelivery
from payments.services import outbox_relay
from payments.services.outbox_relay import outbox_prune, outbox_relay_batch, outbox_relay_drain
from tests import processes
from tests.payments.webhook_support import add_commands, add_events, capture_tasks, endpoint, merchant

pytestmark = pytest.mark.django_db(transaction=True)


def test_event_rows_become_events_with_a_delivery_per_subscribed_endpoint(monkeypatch):
    sent = capture_tasks(monkeypatch)
    acme, other = merchant("Acme"), merchant("Other")
    everything = endpoint(acme, "http://127.0.0.1:9/all").endpoint
    refunds_only = endpoint(acme, "http://127.0.0.1:9/refunds", events=["refund.succeeded"]).endpoint
    endpoint(acme, "http://127.0.0.1:9/live", livemode=True)  # live endpoints never see test events
    endpoint(other, "http://127.0.0.1:9/other")  # nor another merchant's
    rows = add_events(acme, 3)

    result = outbox_relay_batch()

    assert (result.claimed, result.events, result.deliveries) == (3, 3, 3)
    events = {e.outbox_id: e for e in Event.objects.all()}
    assert set(events) == {row.id for row in rows}
    for row in rows:
        event = events[row.id]
        assert (event.merchant_id, event.type, event.livemode) == (acme.id, "payment.succeeded", False)
        assert event.id.startswith("evt_")
        assert event.data == {"object": row.payload}
        assert event.created == row.created  # the state change's instant, not the relay's
    assert set(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == {everything.id}
    assert refunds_only.deliveries.count() == 0
    assert sorted(sent.delivery_ids) == sorted(WebhookDelivery.objects.values_list("id", flat=True))
    assert not OutboxMessage.objects.filter(published_at=None).exists()


def test_commands_go_to_their_queue_with_a_stable_task_id(monkeypatch):
    sent = capture_tasks(monkeypatch)
    rows = add_commands(2, queue="psp_card_a") + add_commands(1)

    assert outbox_relay_batch().commands == 3

    calls = sent.named("payments.execute_attempt")
    assert [c["task_id"] for c in calls] == [f"outbox-{row.id}" for row in rows]
    assert [c["queue"] for c in calls] == ["psp_card_a", "psp_card_a", None]
    assert calls[0]["kwargs"] == {"attempt_id": "att_0"}


def test_a_refused_command_is_kept_and_retried_later_never_lost(monkeypatch):
    sent = capture_tasks(monkeypatch)
    sent.fail = True
    acme = merchant()
    commands = add_commands(3)
    add_events(acme, 2)

    result = outbox_relay_batch()

    assert (result.events, result.commands, result.deferred) == (2, 0, 3)
    assert Event.objects.count() == 2  # events do not wait for the broker
    first = OutboxMessage.objects.get(pk=commands[0].pk)
    assert first.published_at is None
    assert first.publish_attempts == 1
    assert "broker unavailable" in first.last_error
    assert first.available_at > first.created
    assert outbox_relay_batch().claimed == 0  # backing off, not hammering the broker

    sent.fail = False
    OutboxMessage.objects.filter(published_at=None).update(available_at=first.created)
    assert outbox_relay_batch().commands == 3
    assert len(sent.named("payments.execute_attempt")) == 3


def test_a_batch_rolled_back_mid_way_publishes_nothing_and_the_next_relay_publishes_it_once(monkeypatch):
    capture_tasks(monkeypatch)
    acme = merchant()
    endpoint(acme, "http://127.0.0.1:9/all")
    rows = add_events(acme, 5)

    def crash(**kwargs):
        raise RuntimeError("relay died after creating the events")

    with monkeypatch.context() as patch:
        patch.setattr(outbox_relay, "webhook_deliveries_create", crash)
        with pytest.raises(RuntimeError, match="relay died"):
            outbox_relay_batch()
    assert Event.objects.count() == 0
    assert OutboxMessage.objects.filter(published_at=None).count() == 5

    assert outbox_relay_batch().events == 5
    assert sorted(Event.objects.values_list("outbox_id", flat=True)) == [row.id for row in rows]
    assert WebhookDelivery.objects.count() == 5


def test_a_row_whose_event_exists_gets_no_second_event_nor_second_webhooks(monkeypatch):
    capture_tasks(monkeypatch)
    acme = merchant()
    endpoint(acme, "http://127.0.0.1:9/all")
    add_events(acme, 2)
    outbox_relay_batch()
    OutboxMessage.objects.update(published_at=None)  # an operator "republishes" by hand

    assert outbox_relay_batch().claimed == 2
    assert Event.objects.count() == 2
    assert WebhookDelivery.objects.count() == 2


_HOLDING_RELAY = textwrap.dedent(
    """
    import sys, time, django
    django.setup()
    from payments.services import outbox_relay

    real = outbox_relay.webhook_deliveries_create

    def hold(**kwargs):
        real(**kwargs)
        print("claimed", flush=True)
        time.sleep(600)  # holding the claim until killed

    outbox_relay.webhook_deliveries_create = hold
    outbox_relay.outbox_relay_batch(batch_size=int(sys.argv[1]))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_relay_killed_while_holding_a_claim_loses_nothing(monkeypatch, worker_env, tmp_path):
    capture_tasks(monkeypatch)
    acme = merchant()
    endpoint(acme, "http://127.0.0.1:9/all")
    rows = add_events(acme, 30)
    log = tmp_path / "relay.log"
    env = {**worker_env, "DJANGO_SETTINGS_MODULE": "config.settings"}
    proc = processes.start([sys.executable, "-c", _HOLDING_RELAY, "10"], env, log)
    try:
        processes.wait_until(lambda: "claimed" in log.read_text(), timeout=60, what="relay to claim", log=log)
        # While it holds the first 10 rows, a second relay skips them and takes the rest.
        assert outbox_relay_batch(batch_size=100).claimed == 20
        assert outbox_relay_batch().claimed == 0
    finally:
        processes.stop(proc, sig=9)

    # Killed: its transaction dies with it (as soon as PostgreSQL notices the closed connection), so its 10 rows
    # are due again and the next relay loop publishes them, once.
    claimed: list[int] = []
    processes.wait_until(
        lambda: claimed.append(outbox_relay_batch().claimed) or sum(claimed) == 10, timeout=30, what="reclaim"
    )
    counts = Counter(Event.objects.values_list("outbox_id", flat=True))
    assert set(counts) == {row.id for row in rows}
    assert set(counts.values()) == {1}
    assert WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING).count() == 30


def test_concurrent_relays_publish_every_row_exactly_once(monkeypatch):
    assert connection.features.has_select_for_update_skip_locked
    sent = capture_tasks(monkeypatch)
    acme = merchant()
    endpoint(acme, "http://127.0.0.1:9/all")
    events = add_events(acme, 400)
    commands = add_commands(200)
    published: Counter[int] = Counter()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def relay() -> None:
        try:
            start.wait()
            while True:
                result = outbox_relay_batch(batch_size=25)
                published[threading.get_ident()] += result.claimed
                if result.claimed == 0 and not OutboxMessage.objects.filter(published_at=None).exists():
                    return
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(published.values()) == 600
    assert len([n for n in published.values() if n]) > 1, "the relays should have shared the work"
    counts = Counter(Event.objects.values_list("outbox_id", flat=True))
    assert set(counts) == {row.id for row in events}
    assert set(counts.values()) == {1}
    sent_commands = Counter(call["task_id"] for call in sent.named("payments.execute_attempt"))
    assert set(sent_commands) == {f"outbox-{row.id}" for row in commands}
    assert set(sent_commands.values()) == {1}
    assert Counter(sent.delivery_ids).most_common(1)[0][1] == 1


def test_drain_and_prune(monkeypatch):
    capture_tasks(monkeypatch)
    add_events(merchant(), 7)
    assert outbox_relay_drain(batch_size=3) == 7
    assert outbox_prune(now=timezone.now()) == 0  # published just now: kept a week
    add_commands(1)  # unpublished rows are never pruned
    assert outbox_prune(now=timezone.now() + timedelta(days=8)) == 7
    assert OutboxMessage.objects.count() == 1
