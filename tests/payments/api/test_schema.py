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
