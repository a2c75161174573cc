"""Signed webhook deliveries to a real HTTP receiver on 127.0.0.1, with time under the test's control."""

from __future__ import annotations

import itertools
import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ledgerline.webhooks import SignatureVerificationError, verify
from payments.enums import WebhookDeliveryStatus, WebhookEndpointStatus
from payments.models import Event, WebhookDelivery
from payments.services.events import event_payload, events_prune
from payments.services.outbox_relay import outbox_relay_batch
from payments.services.webhook_deliveries import (
    webhook_deliveries_claim_due,
    webhook_deliveries_dispatch_due,
    webhook_delivery_attempt,
    webhook_delivery_resend,
)
from payments.services.webhook_endpoints import webhook_endpoint_roll_secret, webhook_endpoint_update
from tests.payments.webhook_support import add_events, capture_tasks, endpoint, merchant, receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch):
    return capture_tasks(monkeypatch)


@pytest.fixture
def hook():
    with receiver() as state:
        yield state


def _publish(acme, count=1):
    add_events(acme, count)
    outbox_relay_batch()
    return list(WebhookDelivery.objects.order_by("created", "id"))


def test_a_delivery_is_the_signed_event_json_with_its_id_header(sent, hook):
    acme = merchant()
    issued = endpoint(acme, hook.url)
    (delivery,) = _publish(acme)

    outcome = webhook_delivery_attempt(delivery_id=delivery.id)

    assert outcome.result == "succeeded"
    (request,) = hook.requests
    event = Event.objects.get()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Ledgerline-Event-Id"] == event.id
    assert verify(request.body, request.headers["Ledgerline-Signature"], issued.secret) == event_payload(event)
    with pytest.raises(SignatureVerificationError):
        verify(request.body, request.headers["Ledgerline-Signature"], "whsec_someone_else")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (WebhookDeliveryStatus.SUCCEEDED, 1)
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.succeeded, attempt.response_excerpt) == (200, True, "status 200")
    assert attempt.latency_ms >= 0


def test_failures_are_retried_with_growing_delays_until_one_gets_through(sent, hook):
    hook.responses = [500, 503, 404, 200]
    acme = merchant()
    issued = endpoint(acme, hook.url)
    (delivery,) = _publish(acme)
    clock = delivery.created
    times = [clock]

    outcome = webhook_delivery_attempt(delivery_id=delivery.id, now=clock)
    while outcome.result == "retrying":
        due = outcome.next_attempt_at
        assert webhook_deliveries_claim_due(now=due - timedelta(seconds=1)) == []  # not a moment early
        assert webhook_deliveries_claim_due(now=due) == [delivery.id]
        clock = due
        times.append(clock)
        outcome = webhook_delivery_attempt(delivery_id=delivery.id, now=clock)

    assert outcome.result == "succeeded"
    delays = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert len(delays) == 3
    assert 45 <= delays[0] <= 75  # a minute, jittered
    assert delays[0] < delays[1] < delays[2]  # exponential: each wait outgrows the last despite the jitter
    assert [r.headers["Ledgerline-Event-Id"] for r in hook.requests] == [delivery.event_id] * 4
    for request in hook.requests:  # every retry is freshly signed
        verify(request.body, request.headers["Ledgerline-Signature"], issued.secret)
    attempts = list(delivery.attempts.order_by("attempted_at"))
    assert [a.status_code for a in attempts] == [500, 503, 404, 200]
    assert [a.succeeded for a in attempts] == [False, False, False, True]
    assert attempts[0].error == "HTTP 500"
    assert attempts[0].response_excerpt == "status 500"
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.SUCCEEDED
    assert webhook_deliveries_claim_due(now=clock + timedelta(days=1)) == []


def test_a_delivery_is_given_up_after_three_days_of_failures(sent, hook, settings):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 1000  # this test is about the delivery, not the endpoint
    hook.default = 500
    acme = merchant()
    endpoint(acme, hook.url)
    (delivery,) = _publish(acme)
    clock = delivery.created
    outcome = webhook_delivery_attempt(delivery_id=delivery.id, now=clock)
    while outcome.result == "retrying":
        clock = outcome.next_attempt_at
        outcome = webhook_delivery_attempt(delivery_id=delivery.id, now=clock)

    assert outcome.result == "failed"
    assert clock - delivery.created <= timedelta(days=3)
    assert clock - delivery.created > timedelta(days=2)  # it did keep trying for days
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.FAILED
    assert 10 <= delivery.attempt_count <= 25
    assert webhook_deliveries_claim_due(now=clock + timedelta(days=10)) == []


def test_both_secrets_sign_while_a_secret_rolls_then_only_the_new_one(sent, hook):
    acme = merchant()
    issued = endpoint(acme, hook.url)
    (first, second) = _publish(acme, 2)
    rolled_at = timezone.now()
    rolled = webhook_endpoint_roll_secret(endpoint=issued.endpoint, expires_in=timedelta(hours=1), now=rolled_at)
    assert rolled.secret != issued.secret
    assert rolled.secret.startswith("whsec_")

    webhook_delivery_attempt(delivery_id=first.id, now=rolled_at + timedelta(minutes=1))
    webhook_delivery_attempt(delivery_id=second.id, now=rolled_at + timedelta(hours=2))

    during, after = hook.requests
    assert during.headers["Ledgerline-Signature"].count("v1=") == 2
    verify(during.body, during.headers["Ledgerline-Signature"], issued.secret)
    verify(during.body, during.headers["Ledgerline-Signature"], rolled.secret)
    assert after.headers["Ledgerline-Signature"].count("v1=") == 1
    verify(after.body, after.headers["Ledgerline-Signature"], rolled.secret)
    with pytest.raises(SignatureVerificationError):
        verify(after.body, after.headers["Ledgerline-Signature"], issued.secret)


def test_an_endpoint_failing_for_long_is_disabled_with_an_alert_and_can_be_re_enabled(
    sent, hook, settings, mailoutbox, caplog
):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOKS_DISABLE_AFTER_SECONDS = 3600
    hook.default = 500
    acme = merchant()
    issued = endpoint(acme, hook.url)
    deliveries = _publish(acme, 4)
    start = deliveries[0].created

    with caplog.at_level(logging.ERROR):
        for minutes, delivery in zip((0, 10, 30), deliveries, strict=False):
            webhook_delivery_attempt(delivery_id=delivery.id, now=start + timedelta(minutes=minutes))
        issued.endpoint.refresh_from_db()
        assert issued.endpoint.status == WebhookEndpointStatus.ENABLED  # 3 failures, but within the hour
        webhook_delivery_attempt(delivery_id=deliveries[0].id, now=start + timedelta(minutes=61))

    issued.endpoint.refresh_from_db()
    assert issued.endpoint.status == WebhookEndpointStatus.DISABLED
    assert "4 attempts in a row" in issued.endpoint.disabled_reason
    assert any(r.levelno == logging.ERROR and "webhook_endpoint_disabled" in r.getMessage() for r in caplog.records)
    (mail,) = mailoutbox
    assert mail.to == [acme.email]
    assert issued.endpoint.id in mail.body
    # Nothing more is sent to a disabled endpoint; its pending deliveries are given up.
    outcome = webhook_delivery_attempt(delivery_id=deliveries[3].id, now=start + timedelta(minutes=62))
    assert (outcome.result, outcome.error) == ("failed", "endpoint disabled")
    assert len(hook.requests) == 4

    webhook_endpoint_update(endpoint=issued.endpoint, disabled=False)
    issued.endpoint.refresh_from_db()
    assert (issued.endpoint.status, issued.endpoint.consecutive_failures) == (WebhookEndpointStatus.ENABLED, 0)
    hook.default = 200
    (new_delivery,) = [d for d in _publish(acme) if d.id not in {x.id for x in deliveries}]
    assert webhook_delivery_attempt(delivery_id=new_delivery.id).result == "succeeded"


def test_redirects_are_not_followed_so_they_cannot_reach_the_metadata_service(sent, hook):
    hook.responses = [(302, {"Location": "http://169.254.169.254/latest/meta-data/"}, 0)]
    acme = merchant()
    endpoint(acme, hook.url)
    (delivery,) = _publish(acme)

    outcome = webhook_delivery_attempt(delivery_id=delivery.id)

    assert outcome.result == "retrying"
    assert outcome.status_code == 302
    assert "redirects are not followed" in outcome.error
    assert len(hook.requests) == 1


def test_the_guard_runs_again_at_delivery_time(sent, hook, settings):
    acme = merchant()
    endpoint(acme, hook.url)  # accepted while private networks are allowed
    (delivery,) = _publish(acme)
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False

    outcome = webhook_delivery_attempt(delivery_id=delivery.id)

    assert outcome.result == "retrying"
    assert outcome.error.startswith("refused:")
    assert "loopback" in outcome.error
    assert hook.requests == []
    assert delivery.attempts.get().error == outcome.error


def test_a_receiver_slower_than_the_timeout_is_a_failure(sent, hook, settings):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    hook.responses = [(200, {}, 2.0)]
    acme = merchant()
    endpoint(acme, hook.url)
    (delivery,) = _publish(acme)

    outcome = webhook_delivery_attempt(delivery_id=delivery.id)

    assert outcome.result == "retrying"
    assert outcome.error == "timed out after 0.3 s"


def test_a_slow_endpoint_does_not_hold_up_another_one(sent, settings):
    with receiver() as slow, receiver() as fast:
        release = threading.Event()
        slow.responses = [(200, {}, 0)]
        acme = merchant()
        endpoint(acme, slow.url)
        endpoint(acme, fast.url)
        deliveries = _publish(acme)
        to_slow = next(d for d in deliveries if d.endpoint.url == slow.url)
        to_fast = next(d for d in deliveries if d.endpoint.url == fast.url)

        original = slow.next_response

        def stall():
            release.wait(30)
            return original()

        slow.next_response = stall

        def attempt_slow() -> None:
            try:
                webhook_delivery_attempt(delivery_id=to_slow.id)
            finally:
                connection.close()  # the thread's own connection, or the test database cannot be dropped

        thread = threading.Thread(target=attempt_slow)
        thread.start()
        try:
            assert webhook_delivery_attempt(delivery_id=to_fast.id).result == "succeeded"
            assert thread.is_alive()  # the slow one is still waiting for its answer
        finally:
            release.set()
            thread.join(30)
        to_slow.refresh_from_db()
        assert to_slow.status == WebhookDeliveryStatus.SUCCEEDED


def test_an_endpoint_at_its_in_flight_cap_defers_and_duplicates_are_skipped(sent, hook, settings):
    settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT = 1
    acme = merchant()
    endpoint(acme, hook.url)
    first, second = _publish(acme, 2)
    WebhookDelivery.objects.filter(pk=first.pk).update(in_flight_until=timezone.now() + timedelta(seconds=30))

    assert webhook_delivery_attempt(delivery_id=first.id).result == "skipped"  # a duplicate task
    assert webhook_delivery_attempt(delivery_id=second.id).result == "deferred"
    assert hook.requests == []


def test_resend_sends_a_delivered_event_again(sent, hook):
    acme = merchant()
    endpoint(acme, hook.url)
    (delivery,) = _publish(acme)
    webhook_delivery_attempt(delivery_id=delivery.id)
    sent.calls.clear()

    webhook_delivery_resend(delivery=delivery)

    assert sent.delivery_ids == [delivery.id]
    assert webhook_delivery_attempt(delivery_id=delivery.id).result == "succeeded"
    assert len(hook.requests) == 2
    assert delivery.attempts.count() == 2


def test_the_dispatcher_enqueues_due_deliveries_after_commit(sent, hook):
    acme = merchant()
    endpoint(acme, hook.url)
    (delivery,) = _publish(acme)
    sent.calls.clear()
    assert webhook_deliveries_dispatch_due() == 0  # freshly enqueued: leased for a while
    assert webhook_deliveries_dispatch_due(now=timezone.now() + timedelta(minutes=6)) == 1  # the task was lost
    assert sent.delivery_ids == [delivery.id]
    assert sent.calls[0]["queue"] == "webhooks"


def test_events_older_than_thirty_days_are_pruned_with_their_deliveries(sent, hook):
    acme = merchant()
    endpoint(acme, hook.url)
    old, recent = _publish(acme, 2)
    Event.objects.filter(pk=old.event_id).update(created=timezone.now() - timedelta(days=31))

    assert events_prune() == 1

    assert list(Event.objects.values_list("id", flat=True)) == [recent.event_id]
    assert list(WebhookDelivery.objects.values_list("id", flat=True)) == [recent.id]


def test_events_emitted_while_an_endpoint_was_disabled_are_undelivered_and_resent_in_bulk(sent, hook):
    from audit.events import deliveries_check
    from audit.findings import AuditReport
    from payments.selectors import event_list
    from payments.services.webhook_deliveries import webhook_endpoint_resend_missed

    acme = merchant()
    issued = endpoint(acme, hook.url)
    webhook_endpoint_update(endpoint=issued.endpoint, disabled=True)
    assert _publish(acme, 2)  # the deliveries exist, failed from the start
    assert [d.status for d in WebhookDelivery.objects.all()] == [WebhookDeliveryStatus.FAILED] * 2
    assert sent.calls == []
    assert hook.requests == []
    # Listed where the disable email says to look, not as delivered.
    undelivered = event_list(merchant=acme, livemode=False, delivery_success=False)
    assert undelivered.count() == 2
    assert event_list(merchant=acme, livemode=False, delivery_success=True).count() == 0
    report = AuditReport()
    deliveries_check(report, cutoff=timezone.now() + timedelta(seconds=1))
    assert (report.findings, report.counts["events_missed_while_disabled"]) == ([], 2)
    assert webhook_endpoint_resend_missed(endpoint=issued.endpoint) == 0  # not while disabled
    webhook_endpoint_update(endpoint=issued.endpoint, disabled=False)
    assert webhook_endpoint_resend_missed(endpoint=issued.endpoint) == 2
    assert len(sent.calls) == 2
    for delivery in WebhookDelivery.objects.all():
        assert webhook_delivery_attempt(delivery_id=delivery.id).result == "succeeded"
    assert len(hook.requests) == 2
    assert event_list(merchant=acme, livemode=False, delivery_success=False).count() == 0


def test_the_retry_schedule_base_and_cap_are_settings(settings):
    from random import Random

    from payments.services.webhook_deliveries import webhook_retry_delay

    settings.WEBHOOKS_RETRY_BASE_SECONDS = 2
    settings.WEBHOOKS_RETRY_CAP_SECONDS = 10
    delays = [webhook_retry_delay(n, rng=Random(1)).total_seconds() for n in range(1, 7)]  # noqa: S311 - jitter
    assert 1.5 <= delays[0] <= 2.5
    assert 3 <= delays[1] <= 5
    assert all(7.5 <= d <= 12.5 for d in delays[3:])  # capped at 10 s, ±25 %
