"""UPI from requires_action to its end (callback or poll), late success, and provider webhooks applied once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

from django.test import Client as DjangoClient
from django.utils import timezone

from ledger.balances import merchant_balances
from ledger.models import JournalTransaction
from ledger.verification import verify_ledger
from payments.connectors.sandbox_common import SIGNATURE_HEADER
from payments.enums import AttemptOperation, AttemptOutcome, PaymentStatus
from payments.models import OutboxMessage, Payment, ProviderEvent
from payments.services import admission
from payments.tasks import payments_expire_overdue_task
from tests.payments.conftest import card_method, card_payment_body, upi_payment_body
from tests.payments.execution.conftest import attempts, drain, janitor, payment
from tests.psp_sandbox import SECRETS, receiving

CHARGEBACK = "4000000000000259"


def create_upi(api, **metadata) -> str:
    body = {**upi_payment_body(flow="intent"), "confirm": True, "metadata": metadata}
    response = api.post("/v1/payments", body)
    assert response.status_code == 200, response.content
    return response.json()["id"]


def forward(delivery) -> int:
    """Hands a delivery the sandbox made to the platform's inbound endpoint, headers and raw body unchanged."""
    headers = {k: v for k, v in delivery["headers"].items() if k.lower().startswith("sandbox-")}
    response = DjangoClient().generic(
        "POST", delivery["path"], delivery["raw"], content_type="application/json", headers=headers
    )
    return response.status_code


def test_a_upi_intent_waits_with_a_uri_and_qr_code_then_the_payers_approval_settles_it(api, sandbox):
    payment_id = create_upi(api)
    assert drain() == ["payments.execute_attempt:requires_action"]
    body = api.get(f"/v1/payments/{payment_id}").json()
    assert body["status"] == "requires_action"
    action = body["next_action"]
    assert action["upi_uri"].startswith("upi://pay?")
    assert "am=499.00" in action["upi_uri"]
    svg = base64.b64decode(action["qr_code"]["image_url_svg"].split(",", 1)[1])
    assert svg.startswith(b"<svg")
    (attempt,) = attempts(payment_id)
    with receiving(sandbox) as hook:
        sandbox.http.post(f"/upi/v1/transactions/{attempt.provider_reference}/approve", json={})
        delivery = hook.wait_for(lambda ds: any(d["event"]["type"] == "upi_transaction.succeeded" for d in ds))[-1]
    assert forward(delivery) == 200
    assert drain() == ["payments.apply_provider_event:succeeded"]
    paid = payment(payment_id)
    assert (paid.status, len(paid.upi_rrn)) == (PaymentStatus.SUCCEEDED, 12)


def test_a_upi_status_poll_settles_the_payment_when_no_callback_comes(api, sandbox):
    payment_id = create_upi(api, sandbox_payer_vpa="failure@upi")
    drain()
    sandbox.advance(3)
    assert janitor() == ["payments.check_attempt:failed"]
    failed = payment(payment_id)
    assert (failed.status, failed.failure_code) == (PaymentStatus.FAILED, "payer_declined")


def _expire_on_our_side(payment_id: str) -> None:
    Payment.objects.filter(pk=payment_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    payments_expire_overdue_task()


def test_an_unapproved_upi_payment_expires(api, sandbox):
    payment_id = create_upi(api, sandbox_payer_vpa="expire@upi")
    drain()
    _expire_on_our_side(payment_id)
    expired = payment(payment_id)
    assert (expired.status, expired.failure_code) == (PaymentStatus.FAILED, "payment_expired")
    sandbox.advance(601)
    janitor()
    (attempt,) = attempts(payment_id)
    assert (attempt.outcome, attempt.failure_code) == (AttemptOutcome.FAILED, "payment_expired")
    assert sandbox.records() == []


def _late_success(api, sandbox) -> str:
    """A UPI payment that expires on our side, then succeeds at the provider ("deemed"), found by the watch."""
    payment_id = create_upi(api, sandbox_payer_vpa="deemed@upi")
    drain()
    _expire_on_our_side(payment_id)
    sandbox.advance(601)
    janitor()  # the provider says expired too; the attempt stays watched for a deemed success
    sandbox.advance(61)
    return payment_id


def _topics(aggregate_id: str) -> list[str]:
    rows = OutboxMessage.objects.filter(aggregate_id=aggregate_id, kind="event").order_by("id")
    return list(rows.values_list("topic", flat=True))


def test_a_late_upi_success_after_expiry_is_recorded_flagged_and_refunded(api, sandbox):
    payment_id = _late_success(api, sandbox)
    assert janitor() == ["payments.check_attempt:late_success_refunding", "payments.execute_attempt:refund_pending"]
    authorize, refund_attempt = attempts(payment_id)
    assert authorize.outcome == AttemptOutcome.SUCCEEDED
    assert authorize.review_reason.startswith("late_success")
    assert refund_attempt.operation == AttemptOperation.REFUND
    assert payment(payment_id).status == PaymentStatus.FAILED  # the merchant was told it failed; it stays so
    # Visible to the merchant: the payment shows the money the provider took and the refund of it, with events.
    body = api.get(f"/v1/payments/{payment_id}").json()
    assert (body["status"], body["amount_captured"], body["amount_refunded"]) == ("failed", 499_00, 499_00)
    assert body["late_succeeded_at"] is not None
    (refund,) = api.get("/v1/refunds").json()["data"]
    assert (refund["payment"], refund["reason"], refund["status"]) == (payment_id, "late_success", "pending")
    assert refund_attempt.refund_id == refund["id"]
    sandbox.advance(6)
    assert janitor() == ["payments.check_attempt:refund_succeeded"]
    assert api.get(f"/v1/refunds/{refund['id']}").json()["status"] == "succeeded"
    assert _topics(payment_id)[-1] == "payment.late_succeeded"
    assert _topics(refund["id"]) == ["refund.succeeded"]
    assert [r["kind"] for r in sandbox.records()] == ["charge", "refund"]
    # On the books: the money came in (no fee on money we hand back) and went out again; the merchant keeps none.
    assert JournalTransaction.objects.filter(reference=f"payment:{payment_id}:capture").exists()
    assert JournalTransaction.objects.filter(reference=f"refund:{refund['id']}").exists()
    balances = merchant_balances(api.merchant.id)
    assert sum(m.amount for m in balances.available + balances.pending) == 0
    assert verify_ledger().ok
    # Every balance transaction's source answers.
    for txn in api.get("/v1/balance_transactions").json()["data"]:
        kind = "refunds" if txn["source"].startswith("re_") else "payments"
        assert api.get(f"/v1/{kind}/{txn['source']}").status_code == 200, txn


def test_a_late_success_is_kept_when_the_merchant_says_fulfil(api, sandbox):
    api.merchant.upi_late_success_policy = "fulfil"
    api.merchant.save()
    payment_id = _late_success(api, sandbox)
    assert janitor() == ["payments.check_attempt:late_success_kept"]
    assert [a.operation for a in attempts(payment_id)] == [AttemptOperation.AUTHORIZE]
    assert "fulfil" in attempts(payment_id)[0].review_reason
    # A real outcome: the payment succeeded, late, and the merchant is told so.
    body = api.get(f"/v1/payments/{payment_id}").json()
    assert (body["status"], body["amount_captured"], body["failure_code"]) == ("succeeded", 499_00, None)
    assert body["late_succeeded_at"] is not None
    assert _topics(payment_id)[-1] == "payment.succeeded"
    balances = merchant_balances(api.merchant.id)
    assert 0 < sum(m.amount for m in balances.pending) < 499_00  # the capture, less the fee
    assert verify_ledger().ok


def test_duplicate_late_and_out_of_order_webhooks_change_nothing_twice(api, sandbox):
    with receiving(sandbox) as hook:
        sandbox.control("/faults/next", {"provider": "card_a", "operation": "*", "mode": "duplicate", "copies": 3})
        payment_id = api.post("/v1/payments", card_payment_body(confirm=True, capture_method="manual")).json()["id"]
        drain()
        api.post(f"/v1/payments/{payment_id}/capture")
        drain()
        deliveries = hook.wait_for(lambda ds: len({d["event"]["type"] for d in ds}) >= 2 and len(ds) >= 4)
    before = (payment(payment_id).status, [(a.outcome, a.provider_reference) for a in attempts(payment_id)])
    # Every delivery, newest first (out of order), each twice more.
    for delivery in [*reversed(deliveries), *deliveries, *deliveries]:
        assert forward(delivery) == 200
    drain()
    after = (payment(payment_id).status, [(a.outcome, a.provider_reference) for a in attempts(payment_id)])
    assert after == before
    unique_ids = {d["event"]["id"] for d in deliveries}
    assert ProviderEvent.objects.count() == len(unique_ids)
    assert sum(e.deliveries for e in ProviderEvent.objects.all()) == len(deliveries) * 3
    assert [r["kind"] for r in sandbox.records()] == ["charge", "capture"]


def test_a_bad_signature_is_rejected_and_never_applied(api, sandbox):
    with receiving(sandbox) as hook:
        api.post("/v1/payments", card_payment_body(confirm=True))
        drain()
        delivery = hook.wait_for(lambda ds: len(ds) >= 1)[0]
    tampered = {**delivery, "raw": delivery["raw"] + b" "}
    assert forward(tampered) == 400
    assert ProviderEvent.objects.count() == 0
    assert not OutboxMessage.objects.filter(topic="payments.apply_provider_event").exists()
    response = DjangoClient().post("/psp/webhooks/nope", b"{}", content_type="application/json")
    assert response.status_code == 404


def test_a_different_body_under_a_seen_event_id_is_refused(api, sandbox):
    with receiving(sandbox) as hook:
        api.post("/v1/payments", card_payment_body(confirm=True))
        drain()
        first, second = hook.wait_for(lambda ds: len(ds) >= 2)[:2]
    assert forward(first) == 200
    forged_event = json.loads(second["raw"])
    forged_event["id"] = json.loads(first["raw"])["id"]
    raw = json.dumps(forged_event).encode()
    t = int(time.time())
    signature = hmac.new(SECRETS["card_a"].encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    forged = {"path": first["path"], "raw": raw, "headers": {SIGNATURE_HEADER: f"t={t},v1={signature}"}}
    assert forward(forged) == 400


def test_confirm_is_shed_with_503_and_retry_after_when_a_provider_queue_is_too_deep(api, sandbox, settings):
    settings.PSP_QUEUE_MAX_DEPTH = 10
    admission._depths["psp.card_a"] = (float("inf"), 11)
    try:
        response = api.post("/v1/payments", card_payment_body(confirm=True), key="shed-1")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.json()["error"]["type"] == "api_error"
        # Not stored under the key: the same request succeeds once the queue drains.
        admission._depths.clear()
        assert api.post("/v1/payments", card_payment_body(confirm=True), key="shed-1").status_code == 200
        # Another method's queue is not this one's business.
        admission._depths["psp.card_a"] = (float("inf"), 11)
        upi = {**upi_payment_body(flow="intent"), "confirm": True}
        assert api.post("/v1/payments", upi).status_code == 200
    finally:
        admission._depths.clear()


def test_queue_depth_is_read_from_the_broker(settings):
    import redis

    # A queue no worker listens to: in the full suite a session's worker consumes psp.upi and took one of the two.
    queue = "psp.depth_probe"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(queue)
    admission._depths.clear()
    assert admission.queue_depth(queue) == 0
    client.rpush(queue, "x", "y")
    admission._depths.clear()
    try:
        assert admission.queue_depth(queue) == 2
    finally:
        client.delete(queue)
        admission._depths.clear()


def test_a_collect_refused_for_an_unknown_vpa_fails_and_its_watch_ends(api, sandbox):
    api.merchant.upi_collect_enabled = True
    api.merchant.save()
    body = {**upi_payment_body(flow="collect", vpa="unknown@upi"), "confirm": True}
    payment_id = api.post("/v1/payments", body).json()["id"]
    assert drain() == ["payments.execute_attempt:failed"]
    assert (payment(payment_id).status, payment(payment_id).failure_code) == (PaymentStatus.FAILED, "vpa_not_found")
    # A refusal at creation is definitive: the provider never created a transaction, so there is no late success to
    # watch for and nothing is polled (it was once polled forever, an ERROR a minute).
    (attempt,) = attempts(payment_id)
    assert (attempt.next_check_at, attempt.review_reason) == (None, "")
    assert janitor() == []
    assert [r["kind"] for r in sandbox.records()] == []


def test_a_refund_that_stays_pending_is_polled_on_the_schedule_then_left_to_a_person(api, sandbox, settings):
    settings.PSP_UNKNOWN_RECHECK_SCHEDULE = [15, 60]
    payment_id = api.post("/v1/payments", card_payment_body(confirm=True)).json()["id"]
    drain()
    sandbox.control("/faults/next", {"provider": "card_a", "operation": "refund", "mode": "refund_pending"})
    assert api.post("/v1/refunds", {"payment": payment_id, "amount": 100}).status_code == 200
    assert drain() == ["payments.execute_attempt:refund_pending"]
    # The sandbox's clock stands still: the provider keeps saying pending.
    assert janitor() == ["payments.check_attempt:refund_pending"]
    assert janitor() == ["payments.check_attempt:flagged"]
    refund = attempts(payment_id)[-1]
    assert (refund.next_check_at, refund.review_reason.startswith("refund still pending")) == (None, True)
    assert janitor() == []


def test_a_provider_event_whose_apply_was_lost_is_handed_out_again(api, sandbox):
    """Found by the chaos run: the apply task of a UPI success ran while PostgreSQL restarted, failed, and its outbox
    command was already published: the event stayed stored and unapplied for good (a chargeback reported the same
    way would never have become a dispute). The sweep hands out every event still unapplied after a while."""
    from payments.services.provider_events import provider_events_sweep

    payment_id = create_upi(api)
    drain()
    (attempt,) = attempts(payment_id)
    with receiving(sandbox) as hook:
        sandbox.http.post(f"/upi/v1/transactions/{attempt.provider_reference}/approve", json={})
        delivery = hook.wait_for(lambda ds: any(d["event"]["type"] == "upi_transaction.succeeded" for d in ds))[-1]
    assert forward(delivery) == 200
    # The relay sent the apply command and the worker died with it: published, never run.
    lost = OutboxMessage.objects.filter(topic="payments.apply_provider_event", published_at=None)
    assert lost.update(published_at=timezone.now()) == 1
    assert drain() == []
    assert provider_events_sweep() == 0  # not yet: its first apply may still be on its way
    assert provider_events_sweep(now=timezone.now() + timedelta(minutes=5)) == 1
    assert drain() == ["payments.apply_provider_event:succeeded"]
    assert payment(payment_id).status == PaymentStatus.SUCCEEDED
    assert ProviderEvent.objects.get(type="upi_transaction.succeeded").processed_at is not None
    assert provider_events_sweep(now=timezone.now() + timedelta(minutes=5)) == 0


def test_canceling_a_upi_payment_that_waits_for_the_payer_ends_cleanly(api, sandbox):
    """Cancel started a void attempt that the UPI connector refuses, re-flagged every 5 seconds forever (issue 12).
    There is nothing to void: the request at the provider expires by itself, and is watched until it does."""
    payment_id = create_upi(api, sandbox_payer_vpa="expire@upi")
    drain()
    canceled = api.post(f"/v1/payments/{payment_id}/cancel")
    assert canceled.json()["status"] == "canceled", canceled.content
    drain()
    sandbox.advance(601)
    # Expired at the provider too; watched a few times more for a deemed success, like an expiry, then never again.
    rounds = [janitor() for _ in range(15)]
    assert rounds[-1] == [], rounds
    for attempt in attempts(payment_id):
        assert (attempt.review_reason, attempt.next_check_at) == ("", None), attempt.operation
        assert attempt.outcome in (AttemptOutcome.SUCCEEDED, AttemptOutcome.FAILED), attempt.operation
    assert payment(payment_id).status == PaymentStatus.CANCELED
    assert sandbox.records() == []


def test_a_upi_payment_approved_after_it_was_canceled_is_refunded(api, sandbox):
    payment_id = create_upi(api, sandbox_payer_vpa="deemed@upi")
    drain()
    assert api.post(f"/v1/payments/{payment_id}/cancel").json()["status"] == "canceled"
    sandbox.advance(601)
    janitor()
    sandbox.advance(61)
    janitor()
    sandbox.advance(6)
    janitor()
    assert [r["kind"] for r in sandbox.records()] == ["charge", "refund"]
    assert payment(payment_id).status == PaymentStatus.CANCELED
    balances = merchant_balances(api.merchant.id)
    assert sum(m.amount for m in balances.available + balances.pending) == 0
    assert verify_ledger().ok


def test_a_chargeback_that_overtakes_the_capture_opens_its_dispute_once_the_capture_is_known(api, sandbox):
    """Found by the chaos run: the chargeback card's dispute.created came while the authorization's answer was
    lost, so the payment showed nothing captured; the event was flagged as a mismatch, marked applied, and the
    dispute never opened. Early is not wrong: the event stays unapplied until the sweep hands it out again."""
    from payments.models import Dispute
    from payments.services.provider_events import provider_events_sweep

    sandbox.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "lose_response"})
    response = api.post("/v1/payments", card_payment_body(confirm=True, payment_method=card_method(CHARGEBACK)))
    payment_id = response.json()["id"]
    with receiving(sandbox) as hook:
        assert drain() == ["payments.execute_attempt:unknown"]
        delivery = hook.wait_for(lambda ds: any(d["event"]["type"] == "dispute.created" for d in ds))[-1]
    assert forward(delivery) == 200
    assert drain() == ["payments.apply_provider_event:retry_later"]
    assert not Dispute.objects.exists()
    janitor()
    assert payment(payment_id).status == PaymentStatus.SUCCEEDED
    assert provider_events_sweep(now=timezone.now() + timedelta(minutes=5)) == 1
    assert drain() == ["payments.apply_provider_event:dispute_created"]
    assert Dispute.objects.get().payment_id == payment_id
