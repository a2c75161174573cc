"""Card acquirers over real HTTP: tokenization, outcomes by test card, capture, void, refunds, lookups."""

from __future__ import annotations

import pytest

from .conftest import Client

DECLINES = [
    ("4000000000000002", "card_declined", "generic_decline", False),
    ("4000000000009995", "card_declined", "insufficient_funds", False),
    ("4000000000000069", "expired_card", "expired_card", False),
    ("4000000000000127", "incorrect_cvc", "incorrect_cvc", False),
    ("4000000000000119", "processing_error", "processing_error", True),
]


def test_auth_required(client: Client) -> None:
    response = client.http.post("/card_a/v1/tokens", json={}, headers={"Authorization": "Bearer sandbox_card_b_key"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.headers["Request-Id"].startswith("req_")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"number": "4242424242424241", "exp_month": 12, "exp_year": 2099, "cvc": "123"}, "invalid_number"),
        ({"number": "4242424242424242", "exp_month": 1, "exp_year": 2001, "cvc": "123"}, "expired_card"),
        ({"number": "4242424242424242", "exp_month": 13, "exp_year": 2099, "cvc": "123"}, "invalid_expiry_month"),
        ({"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "12"}, "invalid_cvc"),
        ({"number": "378282246310005", "exp_month": 12, "exp_year": 2099, "cvc": "123"}, "invalid_cvc"),
    ],
)
def test_tokenization_checks(client: Client, body: dict[str, object], code: str) -> None:
    response = client.post("card_a", "/tokens", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_token_fields(client: Client) -> None:
    token = client.post(
        "card_a", "/tokens", {"number": "5555 5555 5555 4444", "exp_month": 3, "exp_year": 2099, "cvc": "999"}
    ).json()
    assert token["id"].startswith("tok_")
    assert token["card"]["brand"] == "mastercard"
    assert token["card"]["last4"] == "4444"
    assert len(token["card"]["fingerprint"]) == 16
    assert "number" not in token
    assert "_outcome" not in token


def test_auth_and_capture_success_with_fee(client: Client) -> None:
    reference = client.ref()
    response = client.charge(amount=1000, reference=reference)
    assert response.status_code == 200
    charge = response.json()
    assert charge["status"] == "captured"
    assert charge["amount"] == charge["amount_captured"] == 1000
    assert charge["fee"] == 59  # 2.9 % of 1000 = 29, + 30
    assert charge["net"] == 941
    kinds = [r["kind"] for r in client.records("card_a", reference)]
    assert kinds == ["charge", "capture"]


@pytest.mark.parametrize(("number", "code", "decline_code", "retryable"), DECLINES)
def test_declines(client: Client, number: str, code: str, decline_code: str, retryable: bool) -> None:
    reference = client.ref()
    response = client.charge(number, reference=reference)
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", code, decline_code)
    assert error["retryable"] is retryable
    assert response.headers["Should-Retry"] == ("true" if retryable else "false")
    assert response.json()["charge"]["status"] == "failed"
    assert client.records("card_a", reference) == []
    # A failed attempt does not block the reference: the platform may retry it (e.g. after a processing error).
    assert client.charge(reference=reference).status_code == 200


def test_partial_capture_once(client: Client) -> None:
    charge = client.charge(amount=5000, capture=False).json()
    assert charge["status"] == "authorized"
    assert charge["fee"] == 0
    too_much = client.post("card_a", f"/charges/{charge['id']}/capture", {"amount": 5001})
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_exceeds_authorized"
    captured = client.post("card_a", f"/charges/{charge['id']}/capture", {"amount": 3000}).json()
    assert captured["amount_captured"] == 3000
    assert captured["fee"] == 87 + 30  # 2.9 % of 3000 = 87
    again = client.post("card_a", f"/charges/{charge['id']}/capture", {"amount": 1000})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "charge_already_captured"


def test_void(client: Client) -> None:
    charge = client.charge(capture=False).json()
    voided = client.post("card_a", f"/charges/{charge['id']}/void").json()
    assert voided["status"] == "voided"
    assert client.post("card_a", f"/charges/{charge['id']}/capture").status_code == 409
    captured = client.charge().json()
    response = client.post("card_a", f"/charges/{captured['id']}/void")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "charge_not_voidable"
    assert [r["kind"] for r in client.records("card_a", charge["reference"])] == ["charge", "void"]


def test_authorization_expires_after_seven_days(client: Client) -> None:
    charge = client.charge(capture=False).json()
    client.advance(7 * 86400 + 1)
    response = client.post("card_a", f"/charges/{charge['id']}/capture")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "authorization_expired"


def test_refund_limits(client: Client) -> None:
    charge = client.charge(amount=1000).json()
    path = f"/charges/{charge['id']}/refunds"
    first = client.post("card_a", path, {"amount": 400, "reference": client.ref("rf")})
    assert first.status_code == 200
    assert first.json()["status"] == "succeeded"
    assert first.json()["fee"] == 0
    assert client.post("card_a", path, {"amount": 500}).json()["status"] == "succeeded"
    over = client.post("card_a", path, {"amount": 101})
    assert over.status_code == 400
    assert over.json()["error"]["code"] == "amount_exceeds_refundable"
    rest = client.post("card_a", path, {}).json()
    assert rest["amount"] == 100
    assert client.post("card_a", path, {}).status_code == 400
    refunded = client.get("card_a", f"/charges/{charge['id']}").json()
    assert refunded["amount_refunded"] == 1000
    refunds = [r for r in client.records("card_a", charge["reference"]) if r["kind"] == "refund"]
    assert sum(r["amount"] for r in refunds) == 1000
    uncaptured = client.charge(capture=False).json()
    assert client.post("card_a", f"/charges/{uncaptured['id']}/refunds", {}).status_code == 409


def test_async_refund_fault_counts_pending_amounts(client: Client) -> None:
    charge = client.charge(amount=1000).json()
    client.control("/faults/next", {"provider": "card_a", "operation": "refund", "mode": "refund_fail", "count": 1})
    pending = client.post("card_a", f"/charges/{charge['id']}/refunds", {"amount": 800}).json()
    assert pending["status"] == "pending"
    # The pending 800 is reserved, so only 200 can be refunded meanwhile.
    assert client.post("card_a", f"/charges/{charge['id']}/refunds", {"amount": 300}).status_code == 400
    client.advance(10)
    assert client.get("card_a", f"/refunds/{pending['id']}").json()["status"] == "failed"
    assert client.post("card_a", f"/charges/{charge['id']}/refunds", {"amount": 1000}).status_code == 200


def test_lookup_by_reference(client: Client) -> None:
    missing = client.get("card_a", "/charges/by_reference/never_sent")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "reference_not_found"
    charge = client.charge().json()
    found = client.get("card_a", f"/charges/by_reference/{charge['reference']}").json()
    assert found["id"] == charge["id"]
    assert client.get("card_a", f"/charges/{charge['id']}").json()["reference"] == charge["reference"]
    # The other acquirer never saw it: that 404 is the proof the charge did not happen there.
    assert client.get("card_b", f"/charges/by_reference/{charge['reference']}").status_code == 404
    assert client.get("card_a", "/charges/ch_nope").status_code == 404


def test_reference_reuse_conflicts(client: Client) -> None:
    reference = client.ref()
    assert client.charge(reference=reference).status_code == 200
    again = client.charge(reference=reference)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "reference_already_used"


def test_idempotent_retry_never_charges_twice(client: Client) -> None:
    token = client.token()
    body = {"token": token, "amount": 2500, "currency": "usd", "reference": client.ref(), "capture": True}
    first = client.post("card_a", "/charges", body, key="idem-1")
    for _ in range(3):
        retry = client.post("card_a", "/charges", body, key="idem-1")
        assert retry.status_code == 200
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.json() == first.json()
    assert [r["kind"] for r in client.records("card_a", body["reference"])] == ["charge", "capture"]
    different = client.post("card_a", "/charges", {**body, "amount": 2600}, key="idem-1")
    assert different.status_code == 422
    assert different.json()["error"]["code"] == "idempotency_key_reused"
    # Keys are per provider: the same key on card_b is a different request.
    token_b = client.token(provider="card_b")
    other = client.post("card_b", "/charges", {**body, "token": token_b}, key="idem-1")
    assert other.status_code == 200
    assert other.json()["provider"] == "card_b"


def test_validation_errors_are_not_stored(client: Client) -> None:
    token = client.token()
    body = {"token": token, "amount": 10, "currency": "usd", "reference": client.ref()}
    assert client.post("card_a", "/charges", body, key="fix-me").status_code == 400
    assert client.post("card_a", "/charges", {**body, "amount": 1000}, key="fix-me").status_code == 200


def test_amounts_must_be_integers(client: Client) -> None:
    token = client.token()
    response = client.post("card_a", "/charges", {"token": token, "amount": 10.5, "currency": "usd", "reference": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "amount"
    bad_currency = client.post(
        "card_a", "/charges", {"token": token, "amount": 100, "currency": "USD", "reference": "x"}
    )
    assert bad_currency.json()["error"]["code"] == "invalid_currency"
