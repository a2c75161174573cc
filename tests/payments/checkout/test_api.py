"""``/v1/checkout/sessions``: create (idempotent), retrieve, list, expire; another merchant's session is a 404."""

from __future__ import annotations

from typing import Any

import pytest

from payments.models import CheckoutSession
from tests.payments.conftest import make_api


def session_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": 2000,
        "currency": "usd",
        "success_url": "https://shop.test/thanks",
        "cancel_url": "https://shop.test/cart",
        "payment_methods": ["card"],
    }
    body.update(overrides)
    return body


def test_a_session_is_created_open_with_its_page_url_and_read_back(api, settings):
    settings.LEDGERLINE_BASE_URL = "https://pay.ledgerline.test"
    response = api.post("/v1/checkout/sessions", session_body(metadata={"order": "1001"}))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"].startswith("cs_")
    assert body["url"] == f"https://pay.ledgerline.test/checkout/{body['id']}"
    assert (body["object"], body["status"], body["payment"], body["amount"]) == ("checkout.session", "open", None, 2000)
    assert body["expires_at"] > body["created"]
    assert body["metadata"] == {"order": "1001"}
    assert api.get(f"/v1/checkout/sessions/{body['id']}").json() == body
    listed = api.get("/v1/checkout/sessions", {"status": "open"}).json()
    assert [s["id"] for s in listed["data"]] == [body["id"]]
    assert api.get("/v1/checkout/sessions", {"status": "expired"}).json()["data"] == []


def test_a_retry_with_the_same_idempotency_key_creates_nothing(api):
    first = api.post("/v1/checkout/sessions", session_body(), key="order-7")
    again = api.post("/v1/checkout/sessions", session_body(), key="order-7")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert CheckoutSession.objects.count() == 1
    reused = api.post("/v1/checkout/sessions", session_body(amount=3000), key="order-7")
    assert (reused.status_code, reused.json()["error"]["code"]) == (400, "idempotency_key_reused")


def test_another_merchants_session_does_not_exist(api):
    session_id = api.post("/v1/checkout/sessions", session_body()).json()["id"]
    other = make_api(name="Other")
    for response in (
        other.get(f"/v1/checkout/sessions/{session_id}"),
        other.post(f"/v1/checkout/sessions/{session_id}/expire"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_missing"
    assert other.get("/v1/checkout/sessions").json()["data"] == []
    assert CheckoutSession.objects.get(pk=session_id).status == "open"


@pytest.mark.parametrize(
    ("overrides", "param", "code"),
    [
        ({"success_url": "javascript:alert(1)"}, "success_url", None),
        ({"cancel_url": "not a url"}, "cancel_url", None),
        ({"payment_methods": ["cash"]}, "payment_methods[0]", None),
        ({"payment_methods": []}, "payment_methods", None),
        ({"payment_methods": ["card", "upi"]}, "payment_methods", "currency_invalid"),
        ({"amount": 10}, "amount", "amount_too_small"),
        ({"amount": 100_000_000_000}, "amount", "amount_too_large"),
        ({"amount": "2000"}, "amount", "parameter_invalid"),
        ({"currency": "xyz"}, "currency", "currency_invalid"),
        ({"expires_in": 60}, "expires_in", None),
        ({"customer": "cus_missing"}, "customer", "resource_missing"),
        ({"mode": "payment"}, "mode", "parameter_unknown"),
    ],
)
def test_invalid_requests_are_refused_naming_the_parameter(api, overrides, param, code):
    response = api.post("/v1/checkout/sessions", session_body(**overrides))
    assert 400 <= response.status_code < 500, response.content
    error = response.json()["error"]
    assert error["param"] == param
    if code:
        assert error["code"] == code
    assert not CheckoutSession.objects.exists()


def test_a_missing_success_url_is_refused(api):
    body = session_body()
    del body["success_url"]
    response = api.post("/v1/checkout/sessions", body)
    assert (response.status_code, response.json()["error"]["param"]) == (400, "success_url")


def test_an_inr_session_offers_card_and_upi(api):
    body = api.post(
        "/v1/checkout/sessions", session_body(currency="INR", amount=49900, payment_methods=["card", "upi"])
    ).json()
    assert (body["currency"], body["payment_methods"]) == ("inr", ["card", "upi"])


def test_the_merchant_expires_an_open_session_once(api):
    session_id = api.post("/v1/checkout/sessions", session_body()).json()["id"]
    expired = api.post(f"/v1/checkout/sessions/{session_id}/expire")
    assert (expired.status_code, expired.json()["status"]) == (200, "expired")
    again = api.post(f"/v1/checkout/sessions/{session_id}/expire")
    assert (again.status_code, again.json()["error"]["code"]) == (400, "checkout_session_unexpected_state")
