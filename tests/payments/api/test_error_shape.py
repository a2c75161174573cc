"""One error shape (issue 12): under /v1/ and /psp/ every error is the envelope, ``param`` always present, and no
message shows an internal id. Each case below answered HTML, or an envelope without ``param``, before."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.payments.conftest import Api, make_api

pytestmark = pytest.mark.django_db


def _error(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), (response.status_code, response.content[:300])
    error = dict(response.json()["error"])
    assert set(error) == {"type", "code", "message", "param"}, error
    return error


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/v1/no_such_thing", 404),
        ("post", "/v1/payments/pay_1/refund_everything", 404),
        ("get", "/psp/webhooks", 404),
        ("get", "/psp/webhooks/sandbox_card", 405),
        ("post", "/psp/webhooks/no_such_connector", 404),
    ],
)
def test_unknown_routes_and_methods_answer_the_envelope_even_with_debug_on(
    settings: Any, debug: bool, method: str, path: str, status: int
) -> None:
    settings.DEBUG = debug
    response = getattr(APIClient(), method)(path)
    assert response.status_code == status
    assert _error(response)["param"] is None


def test_a_bad_host_answers_the_envelope(settings: Any, api: Api) -> None:
    settings.DEBUG = True
    response = api.client.get("/v1/merchant", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert _error(response)["type"] == "invalid_request_error"


def test_param_is_null_when_no_parameter_is_at_fault(settings: Any, api: Api) -> None:
    anonymous = APIClient().get("/v1/payments")
    assert (anonymous.status_code, _error(anonymous)["code"], _error(anonymous)["param"]) == (
        401,
        "authentication_required",
        None,
    )
    bad_key = APIClient(HTTP_AUTHORIZATION="Bearer sk_test_nope").get("/v1/payments")
    assert (bad_key.status_code, _error(bad_key)["param"]) == (401, None)

    broken = api.client.post("/v1/payments", "{not json", content_type="application/json")
    assert (broken.status_code, _error(broken)["code"], _error(broken)["param"]) == (400, "invalid_json", None)

    api.post("/v1/payouts", {"amount": 1, "currency": "usd"}, key="reuse")
    reused = api.post("/v1/payouts", {"amount": 2, "currency": "usd"}, key="reuse")
    assert (_error(reused)["code"], _error(reused)["param"]) == ("idempotency_key_reused", None)

    settings.LEDGERLINE_API_RATE = "1/m"
    limited = make_api(name="Busy")
    limited.get("/v1/payments")
    throttled = limited.get("/v1/payments")
    assert (throttled.status_code, _error(throttled)["param"]) == (429, None)


def test_insufficient_funds_names_no_internal_id(api: Api) -> None:
    response = api.post("/v1/payouts", {"amount": 500, "currency": "usd"})
    error = _error(response)
    assert (response.status_code, error["code"], error["param"]) == (400, "insufficient_funds", "amount")
    for internal in ("acc_", "po_", "payout:", "mch_"):
        assert internal not in error["message"], error["message"]


def test_a_ledger_error_reaching_the_api_shows_its_client_message_only() -> None:
    from core.api.errors import exception_handler
    from ledger.exceptions import InsufficientFundsError

    exc = InsufficientFundsError("payout:po_1: account acc_XYZ has 0, 5 short", account_id="acc_XYZ")
    response = exception_handler(exc, {})
    assert response is not None
    assert "acc_" not in response.data["error"]["message"]
    assert response.data["error"]["code"] == "insufficient_funds"


def test_a_form_body_is_refused_in_the_envelope(api: Api) -> None:
    response = api.client.post("/v1/payments", {"amount": 100, "currency": "usd"}, format="multipart")
    assert (response.status_code, _error(response)["code"]) == (415, "unsupported_media_type")
