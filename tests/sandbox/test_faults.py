"""Fault injection over real HTTP: every request fault mode, deterministic next-N rules, seeded rates, outage,
start-up faults from the environment, and reset."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from .conftest import KEYS, Client, start_server, stop_server


def charge_body(client: Client, provider: str = "card_a") -> dict[str, object]:
    return {"token": client.token(provider=provider), "amount": 1500, "currency": "usd", "reference": client.ref()}


def test_error_rule_applies_nothing_then_retry_succeeds(client: Client) -> None:
    client.control(
        "/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "error", "count": 2, "status": 503}
    )
    body = charge_body(client)
    for _ in range(2):
        response = client.post("card_a", "/charges", body, key="k-err")
        assert response.status_code == 503
        assert response.headers["Sandbox-Fault"] == "error"
        assert response.json()["error"]["retryable"] is True
    assert client.records("card_a", str(body["reference"])) == []
    # Nothing was stored for the key either: the third try runs for real.
    assert client.post("card_a", "/charges", body, key="k-err").status_code == 200
    assert len(client.records("card_a", str(body["reference"]))) == 1


def test_lose_response_drops_connection_but_charge_is_applied(client: Client) -> None:
    client.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "lose_response"})
    body = {**charge_body(client), "capture": True}
    with pytest.raises(httpx.TransportError):
        client.post("card_a", "/charges", body, key="k-lost")
    # The provider did charge: status lookup by reference proves it.
    found = client.get("card_a", f"/charges/by_reference/{body['reference']}")
    assert found.status_code == 200
    assert found.json()["status"] == "captured"
    # A retry with the same key returns the original result and charges nothing more.
    retry = client.post("card_a", "/charges", body, key="k-lost")
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == found.json()["id"]
    kinds = [r["kind"] for r in client.records("card_a", str(body["reference"]))]
    assert kinds == ["charge", "capture"]


def test_lose_response_as_5xx(client: Client) -> None:
    body = charge_body(client, "card_b")
    client.control("/faults/next", {"provider": "card_b", "operation": "*", "mode": "lose_response", "how": "500"})
    response = client.post("card_b", "/charges", body, key="k-500")
    assert response.status_code == 500
    assert response.headers["Sandbox-Fault"] == "lose_response"
    assert len(client.records("card_b", str(body["reference"]))) == 1


def test_timeout_hangs_without_applying(client: Client) -> None:
    client.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "timeout"})
    body = charge_body(client)
    with pytest.raises(httpx.ReadTimeout):
        client.post("card_a", "/charges", body, timeout=0.5)
    assert client.get("card_a", f"/charges/by_reference/{body['reference']}").status_code == 404


def test_timeout_after_apply(client: Client) -> None:
    client.control(
        "/faults/next",
        {"provider": "card_a", "operation": "authorize", "mode": "timeout", "apply": True, "seconds": 1},
    )
    body = charge_body(client)
    with pytest.raises(httpx.ReadTimeout):
        client.post("card_a", "/charges", body, timeout=0.3)
    assert client.get("card_a", f"/charges/by_reference/{body['reference']}").status_code == 200


def test_latency(client: Client) -> None:
    client.control("/faults", {"provider": "upi", "latency_ms": 300})
    started = time.monotonic()
    assert client.post("upi", "/vpa/verify", {"vpa": "a@bank"}).status_code == 200
    assert time.monotonic() - started >= 0.3
    client.control("/reset")
    started = time.monotonic()
    client.post("upi", "/vpa/verify", {"vpa": "a@bank"})
    assert time.monotonic() - started < 0.3


def test_outage(client: Client) -> None:
    client.control("/faults", {"provider": "card_a", "outage": True})
    response = client.post("card_a", "/tokens", {"number": "4242424242424242"})
    assert response.status_code == 503
    assert response.headers["Sandbox-Outage"] == "true"
    assert response.json()["error"]["code"] == "provider_outage"
    assert client.http.get("/card_a/settlements", headers={"Authorization": "Bearer x"}).status_code == 503
    # The other acquirer is unaffected: that is what the platform fails over to.
    client.token(provider="card_b")
    client.control("/faults", {"provider": "card_a", "outage_how": "drop"})
    with pytest.raises(httpx.TransportError):
        client.post("card_a", "/tokens", {"number": "4242424242424242"})
    client.control("/reset")
    client.token(provider="card_a")


def test_seeded_rates(client: Client) -> None:
    client.control("/faults", {"provider": "card_a", "error_rate": 1.0, "operations": ["tokenize"]})
    statuses = {client.post("card_a", "/tokens", {"number": "4242424242424242"}).status_code for _ in range(5)}
    assert statuses == {500}
    assert client.get("card_a", "/charges/by_reference/x").status_code == 404  # other operations untouched

    def pattern() -> list[int]:
        client.control("/reset")
        client.control("/faults", {"provider": "card_b", "error_rate": 0.5, "seed": 42})
        return [
            client.post(
                "card_b", "/tokens", {"number": "4242424242424242", "exp_month": 1, "exp_year": 2099, "cvc": "123"}
            ).status_code
            for _ in range(12)
        ]

    first = pattern()
    assert pattern() == first
    assert set(first) == {200, 500}


def test_bad_fault_requests_are_rejected(client: Client) -> None:
    assert client.http.post("/_control/faults/next", json={"provider": "card_a", "mode": "explode"}).status_code == 400
    assert client.http.post("/_control/faults", json={"provider": "card_z"}).status_code == 400
    assert client.http.post("/_control/faults", json={"provider": "card_a", "error_rate": 2}).status_code == 400


def test_faults_from_environment(tmp_path: Path) -> None:
    faults = {
        "card_a": {"outage": True},
        "rules": [{"provider": "upi", "operation": "verify_vpa", "mode": "error", "count": 1, "status": 502}],
    }
    server = start_server(tmp_path / "env.log", {"SANDBOX_FAULTS": json.dumps(faults)})
    try:
        headers = {"Authorization": f"Bearer {KEYS['upi']}"}
        assert httpx.post(f"{server.url}/card_a/v1/tokens", json={}).status_code == 503
        assert httpx.post(f"{server.url}/upi/v1/vpa/verify", json={"vpa": "a@b"}, headers=headers).status_code == 502
        assert httpx.post(f"{server.url}/upi/v1/vpa/verify", json={"vpa": "a@bb"}, headers=headers).status_code == 200
    finally:
        stop_server(server)
    log_lines = [json.loads(line) for line in (tmp_path / "env.log").read_text().splitlines() if line.startswith("{")]
    assert any(line.get("fault") == "outage" for line in log_lines)


def test_state_survives_restart_with_db(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    first = start_server(tmp_path / "a.log", {"SANDBOX_DB": str(db)})
    try:
        client = Client(first)
        charge = client.charge().json()
        client.advance(3600)
    finally:
        stop_server(first)
    second = start_server(tmp_path / "b.log", {"SANDBOX_DB": str(db)})
    try:
        client = Client(second)
        assert client.get("card_a", f"/charges/by_reference/{charge['reference']}").json()["id"] == charge["id"]
        assert client.control_get("/clock")["offset_seconds"] >= 3600
    finally:
        stop_server(second)


def test_spent_rules_are_dropped_so_a_long_run_keeps_its_speed() -> None:
    # Every provider call scans the rules; a chaos run adds one every half second for hours. Spent rules must go,
    # or each call walks all of them (a 90-minute run made the sandbox stop answering).
    from sandbox.faults import Faults

    faults = Faults(seed=1)
    for _ in range(1000):
        faults.add_rule("card_a", "authorize", "error", 1, {"status": 503})
        faults.add_rule("card_a", "webhook", "duplicate", 1, {})
    for _ in range(1000):
        assert faults.request_plan("card_a", "authorize").action == "error"
        assert "duplicate" in faults.webhook_plan("card_a", "charge.captured")
    assert faults.rules == []
    assert faults.request_plan("card_a", "authorize").action is None
    faults.add_rule("card_a", "authorize", "error", 0, {})
    assert faults.snapshot()["rules"] == []
    assert faults.rules == []
