"""Strict requests (issue 11, api-contract.md Errors): unknown parameters are refused, naming them; amounts are
JSON integers only. Before, capture with ``{"amount": 2000}`` captured everything and ``"1000"`` was an amount."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from core.api.strict import ApiView, InputSerializer
from payments.api.idempotency import IdempotentApiView
from payments.models import Payment, Payout, Refund
from tests.payments.conftest import Api, card_payment_body

pytestmark = pytest.mark.django_db


def _error(response: Any) -> dict[str, Any]:
    return dict(response.json()["error"])


def _api_routes() -> list[tuple[str, Any]]:
    def walk(entries: list[Any], prefix: str) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for entry in entries:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                found.extend(walk(entry.url_patterns, route))
            elif isinstance(entry, URLPattern) and route.startswith("v1/") and hasattr(entry.callback, "view_class"):
                found.append((route, entry.callback.view_class))
        return found

    return walk(get_resolver().url_patterns, "")


ROUTES = [(route, view) for route, view in _api_routes() if route != "v1/schema"]  # the schema is not the API
POST_ROUTES = [route for route, view in ROUTES if hasattr(view, "post")]


def _path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: f"{m.group(1)[:3]}_00000000000000000000000000", route)


def test_every_api_view_is_strict() -> None:
    """The mechanism covers every view: a new one that forgets it fails here, not in production."""
    assert len(POST_ROUTES) >= 12, POST_ROUTES
    for route, view in ROUTES:
        assert issubclass(view, ApiView), route
        if hasattr(view, "post"):
            assert issubclass(view, IdempotentApiView), route
            body = view.input_serializer
            assert body is None or issubclass(body, InputSerializer), route
            for field in body().fields.values() if body else []:
                if hasattr(field, "fields"):
                    assert isinstance(field, InputSerializer), (route, field)


@pytest.mark.parametrize("route", POST_ROUTES)
def test_every_post_endpoint_refuses_an_unknown_parameter_naming_it(api: Api, route: str) -> None:
    response = api.post(_path(route), {"amount_to_refund": 10}, key=f"unknown-{route}")
    assert response.status_code == 400, (route, response.content)
    assert (_error(response)["code"], _error(response)["param"]) == ("parameter_unknown", "amount_to_refund")
    assert "amount_to_refund" in _error(response)["message"]


@pytest.mark.parametrize("route", [route for route, view in ROUTES if hasattr(view, "get")])
def test_every_get_endpoint_refuses_an_unknown_query_parameter(api: Api, route: str) -> None:
    response = api.get(_path(route), {"expand": "everything"})
    assert response.status_code == 400, (route, response.content)
    assert (_error(response)["code"], _error(response)["param"]) == ("parameter_unknown", "expand")


@pytest.mark.parametrize("route", POST_ROUTES)
def test_every_post_endpoint_refuses_a_body_that_is_not_an_object(api: Api, route: str) -> None:
    response = api.post(_path(route), [1, 2])  # type: ignore[arg-type]
    assert response.status_code == 400, (route, response.content)
    assert _error(response)["param"] is None


def test_the_documented_list_parameters_are_still_accepted(api: Api) -> None:
    assert api.get("/v1/payments", {"limit": 5, "status": "succeeded", "created[gte]": "1767225600"}).status_code == 200
    assert api.get("/v1/events", {"limit": 5, "type": "payment.*", "delivery_success": "true"}).status_code == 200
    assert api.get("/v1/refunds", {"payment": "pay_x", "limit": 3}).status_code == 200


def test_capture_with_amount_instead_of_amount_to_capture_captures_nothing(api: Api, sandbox: Any) -> None:
    created = api.post("/v1/payments", card_payment_body(amount=3000, capture_method="manual"))
    assert created.status_code == 200
    response = api.post(f"/v1/payments/{created.json()['id']}/capture", {"amount": 2000})
    assert (response.status_code, _error(response)["param"]) == (400, "amount")
    assert Payment.objects.get(pk=created.json()["id"]).amount_captured == 0


def test_an_unknown_parameter_nested_in_the_payment_method_is_named_by_its_path(api: Api) -> None:
    body = card_payment_body()
    body["payment_method"]["card"]["pin"] = "1234"
    response = api.post("/v1/payments", body)
    assert (response.status_code, _error(response)["code"]) == (400, "parameter_unknown")
    assert _error(response)["param"] == "payment_method[card][pin]"
    assert not Payment.objects.exists()


@pytest.mark.parametrize("amount", [1000.0, "1000", True, None, [1000], {"value": 1000}])
@pytest.mark.parametrize("path", ["/v1/payments", "/v1/payouts", "/v1/refunds"])
def test_amounts_are_json_integers_only(api: Api, path: str, amount: Any) -> None:
    bodies = {
        "/v1/payments": card_payment_body(amount=amount),
        "/v1/payouts": {"amount": amount, "currency": "usd"},
        "/v1/refunds": {"payment": "pay_x", "amount": amount},
    }
    response = api.post(path, bodies[path])
    assert response.status_code == 400, (path, amount, response.content)
    assert _error(response)["param"] == "amount"
    assert not Payment.objects.exists()
    assert not Payout.objects.exists()
    assert not Refund.objects.exists()


@pytest.mark.parametrize("value", ["true", 1, "yes", "on"])
def test_booleans_are_json_booleans_only(api: Api, value: Any) -> None:
    response = api.post("/v1/payments", card_payment_body(confirm=value))
    assert (response.status_code, _error(response)["param"]) == (400, "confirm")
    assert not Payment.objects.exists()


def test_other_integers_are_json_integers_too(api: Api) -> None:
    body = card_payment_body()
    body["payment_method"]["card"]["exp_month"] = "12"
    response = api.post("/v1/payments", body)
    assert (response.status_code, _error(response)["param"]) == (400, "payment_method[card][exp_month]")


@pytest.mark.parametrize("value", [0, True, 1.5, ["x"], {"k": "v"}])
@pytest.mark.parametrize("path", ["/v1/payments", "/v1/customers", "/v1/webhook_endpoints"])
def test_metadata_values_are_json_strings_only(api: Api, path: str, value: Any) -> None:
    """Found by schemathesis: DRF's CharField turned 0 into "0", so a body the schema refuses was stored."""
    bodies = {
        "/v1/payments": card_payment_body(),
        "/v1/customers": {"email": "a@example.com"},
        "/v1/webhook_endpoints": {"url": "https://example.com/hooks", "enabled_events": ["*"]},
    }
    response = api.post(path, {**bodies[path], "metadata": {"order": value}})
    assert response.status_code == 400, (path, value, response.content)
    assert str(_error(response)["param"]).startswith("metadata")
    assert not Payment.objects.exists()


@pytest.mark.parametrize("value", [0, True, ["x"]])
def test_text_parameters_are_json_strings_only(api: Api, value: Any) -> None:
    response = api.post("/v1/customers", {"email": "a@example.com", "name": value})
    assert (response.status_code, _error(response)["param"]) == (400, "name")
    response = api.post("/v1/payments", card_payment_body(description=value))
    assert (response.status_code, _error(response)["param"]) == (400, "description")
    assert not Payment.objects.exists()
