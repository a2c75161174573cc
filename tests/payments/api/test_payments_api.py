"""The payment endpoints as a merchant uses them: create, confirm, capture, cancel, retrieve, list."""

from __future__ import annotations

import pytest
from django.db import transaction

from payments.models import OutboxMessage, Payment
from payments.services.payments import payment_lock_with_attempts, payment_mark_requires_capture
from tests.payments.conftest import Api, card_method, card_payment_body, make_api, upi_payment_body

pytestmark = pytest.mark.django_db


def _error(response) -> dict:
    assert response["Request-Id"]
    return response.json()["error"]


def test_create_and_confirm_returns_processing_at_once_with_a_pending_attempt(api: Api) -> None:
    response = api.post("/v1/payments", card_payment_body(confirm=True, metadata={"order": "42"}))

    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("pay_")
    assert (body["object"], body["status"], body["livemode"]) == ("payment", "processing", False)
    assert body["payment_method"]["id"].startswith("pm_")  # an inline card becomes a payment method
    assert body["payment_method"] == {
        "id": body["payment_method"]["id"],
        "type": "card",
        "card": {
            "brand": "visa",
            "last4": "4242",
            "fingerprint": body["payment_method"]["card"]["fingerprint"],
            "exp_month": 12,
            "exp_year": 2039,
        },
    }
    assert body["metadata"] == {"order": "42"}
    assert [a["outcome"] for a in body["attempts"]] == ["pending"]
    topics = set(OutboxMessage.objects.filter(aggregate_id=body["id"]).values_list("topic", flat=True))
    assert topics == {"payment.processing", "payments.execute_attempt"}


def test_create_then_confirm_separately(api: Api) -> None:
    created = api.post("/v1/payments", card_payment_body()).json()
    assert created["status"] == "requires_confirmation"
    assert created["attempts"] == []

    confirmed = api.post(f"/v1/payments/{created['id']}/confirm")
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "processing"
    assert api.get(f"/v1/payments/{created['id']}").json()["status"] == "processing"


def test_manual_capture_in_part_then_the_payment_is_succeeded(api: Api) -> None:
    payment = api.post("/v1/payments", card_payment_body(capture_method="manual", confirm=True)).json()
    with transaction.atomic():
        payment_mark_requires_capture(payment=payment_lock_with_attempts(payment_id=payment["id"]), attempt=None)

    captured = api.post(f"/v1/payments/{payment['id']}/capture", {"amount_to_capture": 1500})
    assert captured.status_code == 200
    assert (captured.json()["status"], captured.json()["amount_captured"]) == ("succeeded", 1500)

    again = api.post(f"/v1/payments/{payment['id']}/capture")
    assert again.status_code == 400
    assert _error(again)["code"] == "payment_unexpected_state"


@pytest.mark.parametrize(
    ("path", "status"),
    [("capture", "requires_confirmation"), ("cancel", "processing"), ("confirm", "processing")],
)
def test_illegal_transitions_are_400_with_a_clear_code(api: Api, path: str, status: str) -> None:
    payment = api.post("/v1/payments", card_payment_body(confirm=status == "processing")).json()
    response = api.post(f"/v1/payments/{payment['id']}/{path}")
    assert response.status_code == 400
    error = _error(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "payment_unexpected_state")
    assert status in error["message"]
    assert response["Should-Retry"] == "false"


def test_cancel_before_capture(api: Api) -> None:
    payment = api.post("/v1/payments", card_payment_body()).json()
    response = api.post(f"/v1/payments/{payment['id']}/cancel", {"cancellation_reason": "requested_by_customer"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cancellation_reason"]) == ("canceled", "requested_by_customer")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"amount": 49}, "amount_too_small", "amount"),
        ({"amount": 0}, "amount_too_small", "amount"),
        ({"currency": "xyz"}, "currency_invalid", "currency"),
        ({"currency": "jpy", "amount": 49}, "amount_too_small", "amount"),
        ({"payment_method": card_method("4242424242424241")}, "invalid_number", "payment_method[card][number]"),
        ({"payment_method": card_method(exp_year=2020)}, "expired_card", "payment_method[card][exp_year]"),
        ({"payment_method": card_method(exp_month=13)}, "invalid_expiry_month", "payment_method[card][exp_month]"),
        ({"payment_method": card_method(cvc="12")}, "invalid_cvc", "payment_method[card][cvc]"),
        ({"payment_method": card_method("378282246310005", cvc="123")}, "invalid_cvc", "payment_method[card][cvc]"),
        ({"payment_method": {"type": "card"}}, "parameter_missing", "payment_method[card]"),
        ({"payment_method": {"type": "cash"}}, "parameter_invalid", "payment_method[type]"),
        ({"amount": "ten"}, "parameter_invalid", "amount"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "parameter_invalid", "metadata"),
    ],
)
def test_validation_errors_use_the_envelope_and_name_the_parameter(api: Api, body: dict, code: str, param: str) -> None:
    response = api.post("/v1/payments", card_payment_body(**body))
    assert response.status_code == 400, response.json()
    error = _error(response)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert not Payment.objects.exists()


def test_a_missing_field_is_parameter_missing(api: Api) -> None:
    error = _error(api.post("/v1/payments", {"currency": "usd", "payment_method": card_method()}))
    assert (error["code"], error["param"]) == ("parameter_missing", "amount")


def test_upi_intent_is_the_default_and_collect_needs_the_merchant_setting(api: Api) -> None:
    intent = api.post("/v1/payments", upi_payment_body(), key="intent")
    assert intent.status_code == 200
    assert intent.json()["payment_method"]["upi"] == {"flow": "intent", "vpa": None, "rrn": None, "expires_in": 600}

    refused = api.post("/v1/payments", upi_payment_body(flow="collect", vpa="payer@okbank"), key="collect")
    assert refused.status_code == 400
    assert _error(refused)["code"] == "upi_collect_not_allowed"

    api.merchant.upi_collect_enabled = True
    api.merchant.save()
    # The refusal was a validation failure, not stored: the same key works once the setting allows it.
    allowed = api.post("/v1/payments", upi_payment_body(flow="collect", vpa="payer@okbank"), key="collect")
    assert allowed.status_code == 200
    assert allowed.json()["payment_method"]["upi"]["vpa"] == "payer@okbank"


@pytest.mark.parametrize("vpa", ["payer", "payer@", "@okbank", "pa yer@okbank", "payer@ok bank", "p@1bank"])
def test_malformed_vpa_is_invalid_vpa(vpa: str) -> None:
    api = make_api()
    api.merchant.upi_collect_enabled = True
    api.merchant.save()
    response = api.post("/v1/payments", upi_payment_body(flow="collect", vpa=vpa))
    assert response.status_code == 400
    assert (_error(response)["code"], _error(response)["param"]) == ("invalid_vpa", "payment_method[upi][vpa]")


@pytest.mark.parametrize("expires_in", [299, 901])
def test_upi_expiry_is_between_5_and_15_minutes(api: Api, expires_in: int) -> None:
    response = api.post("/v1/payments", upi_payment_body(expires_in=expires_in))
    assert response.status_code == 400
    assert _error(response)["param"] == "payment_method[upi][expires_in]"


def test_list_filters_by_status_and_pages_newest_first(api: Api) -> None:
    ids = [api.post("/v1/payments", card_payment_body(confirm=i % 2 == 0)).json()["id"] for i in range(5)]

    page = api.get("/v1/payments", {"limit": 2}).json()
    assert (page["object"], page["url"], page["has_more"]) == ("list", "/v1/payments", True)
    assert [p["id"] for p in page["data"]] == ids[::-1][:2]
    rest = api.get("/v1/payments", {"limit": 10, "starting_after": page["data"][-1]["id"]}).json()
    assert [p["id"] for p in rest["data"]] == ids[::-1][2:]

    processing = api.get("/v1/payments", {"status": "processing"}).json()["data"]
    assert sorted(p["id"] for p in processing) == sorted(ids[0::2])
    created = Payment.objects.get(pk=ids[2]).created
    since = api.get("/v1/payments", {"created[gte]": created.isoformat()}).json()["data"]
    assert sorted(p["id"] for p in since) == sorted(ids[2:])


def test_list_costs_a_fixed_number_of_queries(api: Api, django_assert_max_num_queries) -> None:
    for _ in range(12):
        api.post("/v1/payments", card_payment_body(confirm=True))
    # key lookup, the page, its attempts (one prefetch), whatever the page size
    with django_assert_max_num_queries(3):
        assert len(api.get("/v1/payments", {"limit": 12}).json()["data"]) == 12


def test_unknown_payment_is_404_resource_missing(api: Api) -> None:
    response = api.get("/v1/payments/pay_DOESNOTEXIST")
    assert response.status_code == 404
    assert _error(response)["code"] == "resource_missing"
