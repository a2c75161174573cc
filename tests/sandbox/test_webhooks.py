"""Outgoing webhooks over real HTTP: signatures, retries, duplicate / out-of-order / late / dropped delivery,
and the dispute lifecycle."""

from __future__ import annotations

import hashlib
import hmac
import time

from .conftest import SECRETS, Client, Receiver


def verify(secret: str, header: str, raw: bytes) -> bool:
    """What a connector does: recompute HMAC-SHA256(secret, "<t>.<raw body>") and check the time window."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


def approve(client: Client, txn_id: str) -> None:
    assert client.http.post(f"/upi/v1/transactions/{txn_id}/approve", json={}).status_code == 200


def test_signature_and_shape(client: Client, receiver: Receiver) -> None:
    txn = client.upi()
    approve(client, txn["id"])
    (delivery,) = receiver.wait_for(lambda d: len(d) == 1)
    event = delivery["event"]
    assert delivery["path"] == "/psp/webhooks/upi"
    assert event["type"] == "upi_transaction.succeeded"
    assert event["id"].startswith("evt_")
    assert event["data"]["object"]["reference"] == txn["reference"]
    assert "_late_success" not in event["data"]["object"]
    header = delivery["headers"]["Sandbox-Signature"]
    assert verify(SECRETS["upi"], header, delivery["raw"])
    assert not verify(SECRETS["card_a"], header, delivery["raw"])
    assert not verify(SECRETS["upi"], header, delivery["raw"] + b" ")


def test_card_events_and_per_provider_url(client: Client, receiver: Receiver) -> None:
    client.charge(provider="card_b")
    deliveries = receiver.wait_for(lambda d: len(d) == 2)
    assert [d["event"]["type"] for d in deliveries] == ["charge.authorized", "charge.captured"]
    assert {d["path"] for d in deliveries} == {"/psp/webhooks/card_b"}
    assert all(verify(SECRETS["card_b"], d["headers"]["Sandbox-Signature"], d["raw"]) for d in deliveries)


def test_retries_until_2xx(client: Client, receiver: Receiver) -> None:
    receiver.fail_first = 2
    txn = client.upi()
    approve(client, txn["id"])
    (delivery,) = receiver.wait_for(lambda d: len(d) == 1)
    assert delivery["headers"]["Sandbox-Delivery-Attempt"] == "3"
    # The sandbox records an attempt's status after the receiver has answered it, so the last one may lag the
    # delivery the receiver saw by a moment.
    deadline = time.monotonic() + 5
    while True:
        (logged,) = client.control_get("/events", provider="upi")["data"]
        statuses = [a.get("status") for a in logged["deliveries"]]
        if len(statuses) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert statuses == [500, 500, 200]


def test_duplicate_webhooks(client: Client, receiver: Receiver) -> None:
    client.control("/faults/next", {"provider": "upi", "operation": "webhook", "mode": "duplicate", "count": 1})
    txn = client.upi()
    approve(client, txn["id"])
    deliveries = receiver.wait_for(lambda d: len(d) == 2)
    assert deliveries[0]["event"] == deliveries[1]["event"]


def test_out_of_order_webhooks(client: Client, receiver: Receiver) -> None:
    charge = client.charge(capture=False).json()
    receiver.wait_for(lambda d: len(d) == 1)
    client.control(
        "/faults/next",
        {"provider": "card_a", "operation": "charge.captured", "mode": "out_of_order", "count": 1},
    )
    client.post("card_a", f"/charges/{charge['id']}/capture")
    client.post("card_a", f"/charges/{charge['id']}/refunds", {"amount": 100})
    deliveries = receiver.wait_for(lambda d: len(d) == 3)
    assert [d["event"]["type"] for d in deliveries] == ["charge.authorized", "refund.succeeded", "charge.captured"]


def test_held_event_is_released_even_without_a_next_one(client: Client, receiver: Receiver) -> None:
    client.control("/faults/next", {"provider": "upi", "mode": "reorder_webhook", "operation": "webhook"})
    txn = client.upi()
    approve(client, txn["id"])
    time.sleep(0.3)
    assert receiver.deliveries == []
    receiver.wait_for(lambda d: len(d) == 1, timeout=5)


def test_late_and_dropped_webhooks(client: Client, receiver: Receiver) -> None:
    client.control("/faults/next", {"provider": "upi", "operation": "webhook", "mode": "late", "delay_ms": 600})
    first = client.upi()
    approve(client, first["id"])
    started = time.monotonic()
    receiver.wait_for(lambda d: len(d) == 1)
    assert time.monotonic() - started >= 0.5
    client.control("/faults/next", {"provider": "upi", "operation": "webhook", "mode": "drop"})
    second = client.upi()
    approve(client, second["id"])
    time.sleep(0.3)
    assert len(receiver.deliveries) == 1
    events = client.control_get("/events", provider="upi")["data"]
    assert events[-1]["deliveries"] == [{"copy": 1, "attempt": 0, "result": "dropped_by_fault"}]
    client.control(f"/events/{events[-1]['event']['id']}/resend")
    receiver.wait_for(lambda d: len(d) == 2)


def test_upi_expired_then_late_success_events(client: Client, receiver: Receiver) -> None:
    txn = client.upi(flow="collect", vpa="deemed@upi", expires_in=300)
    client.advance(301)
    client.advance(61)
    deliveries = receiver.wait_for(lambda d: len(d) == 2)
    assert [d["event"]["type"] for d in deliveries] == ["upi_transaction.expired", "upi_transaction.succeeded"]
    assert deliveries[1]["event"]["data"]["object"]["late_success"] is True
    assert deliveries[1]["event"]["data"]["object"]["reference"] == txn["reference"]


def test_async_refund_events(client: Client, receiver: Receiver) -> None:
    txn = client.upi(amount=5000)
    approve(client, txn["id"])
    client.control("/faults/next", {"provider": "upi", "operation": "refund", "mode": "refund_fail"})
    failing = client.post("upi", f"/transactions/{txn['id']}/refunds", {"amount": 1000}).json()
    client.advance(6)
    failed = receiver.wait_for(lambda d: any(x["event"]["type"] == "refund.failed" for x in d))
    assert [d["event"]["data"]["object"]["id"] for d in failed if d["event"]["type"] == "refund.failed"] == [
        failing["id"]
    ]
    ok = client.post("upi", f"/transactions/{txn['id']}/refunds", {"amount": 5000}).json()
    client.advance(6)
    receiver.wait_for(lambda d: any(x["event"]["type"] == "refund.succeeded" for x in d))
    assert receiver.of_type("refund.succeeded")[0]["event"]["data"]["object"]["id"] == ok["id"]


def test_dispute_lifecycle(client: Client, receiver: Receiver) -> None:
    charge = client.charge(amount=2000).json()
    dispute = client.control(
        "/disputes", {"provider": "card_a", "charge": charge["id"], "reason": "product_not_received"}
    )
    assert dispute["status"] == "needs_response"
    assert dispute["amount"] == 2000
    assert client.get("card_a", f"/charges/{charge['id']}").json()["disputed"] is True
    assert client.post("card_a", f"/charges/{charge['id']}/refunds", {}).json()["error"]["code"] == "charge_disputed"
    submitted = client.post(
        "card_a", f"/disputes/{dispute['id']}/evidence", {"evidence": {"shipping_tracking": "1Z999"}, "submit": True}
    ).json()
    assert submitted["status"] == "under_review"
    won = client.control(f"/disputes/{dispute['id']}/resolve", {"outcome": "won"})
    assert won["status"] == "won"
    types = [d["event"]["type"] for d in receiver.wait_for(lambda d: len(d) == 5)]
    assert types[2:] == ["dispute.created", "dispute.updated", "dispute.won"]
    kinds = [r["kind"] for r in client.records("card_a", charge["reference"])]
    assert kinds == ["charge", "capture", "chargeback", "chargeback_reversal"]
    lost_charge = client.charge().json()
    lost = client.control("/disputes", {"provider": "card_a", "reference": lost_charge["reference"], "amount": 500})
    assert client.post("card_a", f"/disputes/{lost['id']}/accept").json()["status"] == "lost"
    receiver.wait_for(lambda d: any(x["event"]["type"] == "dispute.lost" for x in d))


def test_auto_chargeback_card(client: Client, receiver: Receiver) -> None:
    charge = client.charge("4000000000000259").json()
    client.advance(1)
    created = receiver.wait_for(lambda d: any(x["event"]["type"] == "dispute.created" for x in d))
    dispute = next(d["event"]["data"]["object"] for d in created if d["event"]["type"] == "dispute.created")
    assert dispute["charge"] == charge["id"]
    assert dispute["reason"] == "fraudulent"
