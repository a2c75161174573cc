"""The OpenAPI document documents what the contract promises, and /docs/ works with no network."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    import json

    return json.loads(response.content)


def test_every_post_documents_the_idempotency_key_and_the_error_envelope(schema: dict) -> None:
    posts = [(path, ops["post"]) for path, ops in schema["paths"].items() if "post" in ops]
    assert {path for path, _ in posts} >= {
        "/v1/payments",
        "/v1/payments/{payment_id}/confirm",
        "/v1/payments/{payment_id}/capture",
        "/v1/payments/{payment_id}/cancel",
    }
    for path, operation in posts:
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"]), path
        for status in ("400", "401", "404", "409", "429", "500"):
            ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Error", (path, status)


def test_the_error_schema_is_the_contract_envelope(schema: dict) -> None:
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) == {"type", "code", "message", "param"}


def test_docs_render_from_packaged_assets_without_a_cdn(client) -> None:
    page = client.get("/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn.jsdelivr.net" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    bundle = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert bundle.status_code == 200


def test_the_schema_is_a_valid_openapi_document(schema: dict) -> None:
    """A default outside its own enum or format (customer_email "", refund reason "") made the document invalid
    and generated clients drop POST /v1/refunds (issue 12)."""
    from openapi_spec_validator import validate

    validate(schema)


def test_request_bodies_advertise_only_json(schema: dict) -> None:
    """The server parses JSON only; form-encoded nested bodies were advertised and never read."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "requestBody" in operation:
                assert set(operation["requestBody"]["content"]) == {"application/json"}, (method, path)


def test_every_list_takes_the_same_created_filter_and_documents_its_cursors(schema: dict) -> None:
    lists = {path: ops["get"] for path, ops in schema["paths"].items() if "get" in ops and "{" not in path}
    created = {
        path: [p for p in op.get("parameters", []) if p["name"].startswith("created[")] for path, op in lists.items()
    }
    shapes = {(p["name"], p["schema"]["type"]) for params in created.values() for p in params}
    assert shapes == {("created[gte]", "string"), ("created[lte]", "string")}
    for path in ("/v1/payments", "/v1/events"):
        assert {p["name"] for p in created[path]} == {"created[gte]", "created[lte]"}, path
    cursor = next(p for p in lists["/v1/payments"]["parameters"] if p["name"] == "starting_after")
    assert "resource_missing" in cursor["description"]


def test_request_bodies_refuse_unknown_fields_as_the_server_does(schema: dict) -> None:
    """The server answers an unknown body field with 400 parameter_unknown; the schema allowed any (issue 12)."""
    requests = {n: c for n, c in schema["components"]["schemas"].items() if n.endswith("Request")}
    assert "PaymentCreateInputRequest" in requests
    for name, component in requests.items():
        assert component["additionalProperties"] is False, name
    metadata = requests["RefundCreateInputRequest"]["properties"]["metadata"]
    assert metadata["additionalProperties"] == {"type": "string", "maxLength": 500}


def test_cursor_parameters_declare_the_id_shape_the_server_checks(schema: dict) -> None:
    cursor = next(p for p in schema["paths"]["/v1/events"]["get"]["parameters"] if p["name"] == "ending_before")
    assert cursor["schema"]["pattern"] == "^[a-z]{2,8}_[0-9A-Za-z]{1,64}$"
