"""Stripe's wire format at the HTTP level, in process (no worker: a confirm's provider call never runs here)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import pytest
from rest_framework import serializers
from rest_framework.test import APIClient

from payments.services.merchants import merchant_create
from stripe_api.wire import bracket_decode, query_decode

FORM = "application/x-www-form-urlencoded"


def test_bracket_notation_becomes_nested_parameters() -> None:
    decoded = query_decode(
        "amount=2000&metadata[order]=42&metadata[note]=&expand[0]=latest_charge&expand[1]=customer"
        "&types[]=a&types[]=b&payment_method_data[card][exp_month]=12"
    )
    assert decoded == {
        "amount": "2000",
        "metadata": {"order": "42", "note": ""},
        "expand": ["latest_charge", "customer"],
        "types": ["a", "b"],
        "payment_method_data": {"card": {"exp_month": "12"}},
    }


@pytest.mark.parametrize(
    "pairs",
    [
        [("metadata[a", "1")],
        [("[a]", "1")],
        [("a", "1"), ("a[b]", "2")],
        [("a[b]", "1"), ("a", "2")],
        [("a[0]", "1"), ("a[x]", "2")],
        [("a[5000]", "1")],
    ],
)
def test_malformed_bracket_notation_is_a_400_not_a_crash(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(serializers.ValidationError):
        bracket_decode(pairs)


@pytest.fixture
def secret(db: None) -> str:
    _, issued = merchant_create(name="Wire", email="ops@wire.test")
    return issued.secret


def _basic(secret: str) -> str:
    return "Basic " + base64.b64encode(f"{secret}:".encode()).decode()


def _post(client: APIClient, path: str, params: dict[str, Any], **headers: str) -> Any:
    return client.post(f"/stripe/v1/{path}", urlencode(params), content_type=FORM, headers=headers)


def test_a_form_encoded_create_with_basic_auth_answers_a_payment_intent(secret: str) -> None:
    client = APIClient()
    response = _post(
        client,
        "payment_intents",
        {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "metadata[order]": "7"},
        Authorization=_basic(secret),
        **{"Stripe-Version": "2024-06-20"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "payment_intent"
    assert body["status"] == "requires_confirmation"
    assert body["metadata"] == {"order": "7"}
    assert isinstance(body["created"], int)
    assert response["Stripe-Version"] == "2024-06-20"

    updated = _post(
        client,
        f"payment_intents/{body['id']}",
        {"metadata[order]": "", "metadata[gift]": "yes", "description": "Gift"},
        Authorization=_basic(secret),
    )
    assert updated.status_code == 200, updated.content
    assert updated.json()["metadata"] == {"gift": "yes"}
    assert updated.json()["description"] == "Gift"


def test_an_unknown_parameter_is_named_and_not_worth_retrying(secret: str) -> None:
    response = _post(
        APIClient(),
        "payment_intents",
        {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "statement_descriptor": "X"},
        Authorization=f"Bearer {secret}",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "statement_descriptor"
    assert response["Stripe-Should-Retry"] == "false"


def test_no_key_and_a_bad_key_are_authentication_errors(db: None) -> None:
    assert APIClient().get("/stripe/v1/payment_intents").json()["error"]["type"] == "authentication_error"
    response = APIClient().get("/stripe/v1/balance", headers={"Authorization": _basic("sk_test_nope")})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_a_confirm_the_provider_does_not_answer_in_time_is_processing_and_replays_as_given(
    secret: str, settings: Any
) -> None:
    settings.STRIPE_API_CONFIRM_WAIT_SECONDS = 0.3
    client = APIClient()
    auth = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "confirm-1"}
    params = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}
    first = _post(client, "payment_intents", params, **auth)
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "processing"
    again = _post(client, "payment_intents", params, **auth)
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    changed = _post(client, "payment_intents", {**params, "amount": "2100"}, **auth)
    assert changed.status_code == 400
    assert changed.json()["error"]["type"] == "idempotency_error"


def test_lists_give_the_url_the_sdk_pages_with(secret: str) -> None:
    response = APIClient().get(
        "/stripe/v1/payment_intents",
        {"limit": "1", "expand[0]": "data.customer"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"object": "list", "data": [], "has_more": False, "url": "/v1/payment_intents"}


def test_a_connected_account_header_is_refused_not_ignored(secret: str) -> None:
    response = APIClient().get(
        "/stripe/v1/balance", headers={"Authorization": f"Bearer {secret}", "Stripe-Account": "acct_123"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Stripe-Account"
