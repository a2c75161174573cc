"""Bad input from outside (issue 12, "No 5xx"): each a 4xx in the one envelope, nothing written, nothing stored.

Reproduced by hand with fuzzers and hand-made requests; each answered 500 before.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from payments.models import IdempotencyKey, Payout
from tests.payments.conftest import Api, card_payment_body

pytestmark = pytest.mark.django_db


def _error(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body["error"]) == {"type", "code", "message", "param"}, body
    return dict(body["error"])


def test_a_payout_beyond_bigint_is_a_400_that_is_not_stored_under_its_key(api: Api) -> None:
    body = {"amount": 2**63, "currency": "usd"}
    first = api.post("/v1/payouts", body, key="po-huge")
    assert first.status_code == 400
    assert (_error(first)["code"], _error(first)["param"]) == ("parameter_invalid", "amount")
    assert not IdempotencyKey.objects.filter(key="po-huge").exists()
    assert not Payout.objects.exists()
    # A corrected retry under the same key runs (it is refused for the balance, not replayed).
    retry = api.post("/v1/payouts", {"amount": 100, "currency": "usd"}, key="po-huge")
    assert retry.status_code == 400
    assert _error(retry)["code"] == "insufficient_funds"
    assert "Idempotent-Replayed" not in retry


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/payments", card_payment_body(amount=2**64), "amount"),
        ("/v1/payments", card_payment_body(amount=-(2**70)), "amount"),
        ("/v1/payouts", {"amount": 10**30, "currency": "usd"}, "amount"),
        ("/v1/refunds", {"payment": "pay_x", "amount": 2**63}, "amount"),
    ],
)
def test_no_integer_beyond_bigint_reaches_the_database(api: Api, path: str, body: dict, param: str) -> None:
    response = api.post(path, body)
    assert response.status_code == 400
    assert (_error(response)["code"], _error(response)["param"]) == ("parameter_invalid", param)


@pytest.mark.parametrize("path", ["/v1/events", "/v1/payments"])
@pytest.mark.parametrize("value", ["253402300800", "99999999999999999999999", "10000-01-01T00:00:00Z"])
def test_a_created_filter_past_year_9999_is_a_400(api: Api, path: str, value: str) -> None:
    response = api.get(path, {"created[gte]": value})
    assert response.status_code == 400
    assert _error(response)["param"] == "created[gte]"


@pytest.mark.parametrize("path", ["/v1/events", "/v1/payments"])
@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "-1", "1e10", "0", "2026-13-01T00:00:00Z"]
)
def test_created_filters_at_the_edges_of_time_never_fail_the_server(api: Api, path: str, value: str) -> None:
    for bound in ("created[gte]", "created[lte]"):
        response = api.get(path, {bound: value})
        assert response.status_code in (200, 400), (bound, value, response.content[:300])
        if response.status_code == 400:
            assert _error(response)["param"] == bound


def _patterns(resolvers: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for entry in resolvers:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found.extend(_patterns(entry.url_patterns, route))
        elif isinstance(entry, URLPattern):
            found.append((route, entry))
    return found


API_ROUTES_WITH_IDS = sorted(
    {route for route, _ in _patterns(get_resolver().url_patterns) if route.startswith(("v1/", "psp/")) and "<" in route}
)


def test_the_walk_covers_every_object_route() -> None:
    assert len(API_ROUTES_WITH_IDS) >= 12, API_ROUTES_WITH_IDS


@pytest.mark.parametrize("route", API_ROUTES_WITH_IDS)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_a_nul_byte_in_any_object_id_is_a_404_envelope(api: Api, route: str, method: str) -> None:
    path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: f"{m.group(1)[:3]}_abc%00def", route)
    response = getattr(api.client, method)(path, {}, format="json")
    assert response.status_code == 404, (path, response.status_code, response.content[:200])
    assert _error(response)["code"] == "resource_missing"


@pytest.mark.parametrize("path", ["/v1/refunds", "/v1/payments", "/v1/events"])
def test_a_nul_byte_in_a_query_parameter_is_a_400(api: Api, path: str) -> None:
    response = api.client.get(path + "?payment=%00&status=%00&type=%00")
    assert response.status_code == 400
    assert _error(response)["code"] == "parameter_invalid"


def test_a_nul_byte_in_a_metadata_key_or_value_is_a_400(api: Api) -> None:
    for metadata in ({"or\u0000der": "1"}, {"order": "1\u00002"}):
        response = api.post("/v1/payouts", {"amount": 100, "currency": "usd", "metadata": metadata})
        assert response.status_code == 400, response.content
        error = _error(response)
        assert (error["code"], error["param"]) == (
            "parameter_invalid",
            "metadata" if "\x00" in next(iter(metadata)) else "metadata[order]",
        )
        assert "\x00" not in json.dumps(error)
    assert not Payout.objects.exists()


def test_a_10_mb_body_is_a_413_envelope_on_the_api_and_the_provider_endpoint(api: Api) -> None:
    big = json.dumps({"description": "x" * 10_000_000})
    for path in ("/v1/payments", "/psp/webhooks/sandbox_card"):
        response = api.client.post(path, big, content_type="application/json")
        assert response.status_code == 413, path
        assert _error(response)["code"] == "request_too_large"


def test_a_form_body_with_many_fields_is_refused_as_an_unsupported_format(api: Api) -> None:
    form = "&".join(f"f{i}=1" for i in range(1500))
    response = api.client.post("/v1/payments", form, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_json_nested_100000_deep_is_a_400(api: Api) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response = api.client.post("/v1/payments", deep, content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"
    nested = {"metadata": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": "j"}}}}}}}}}}
    response = api.post("/v1/payouts", {"amount": 1, "currency": "usd", **nested})
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"
