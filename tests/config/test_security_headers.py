"""Security headers of the production shape, on a response served by the production settings themselves."""

from __future__ import annotations

import pytest

from tests import processes
from tests.config.test_settings_shapes import PRODUCTION

_PROBE = """
import json, django
django.setup()
from django.test import Client
c = Client()
https = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "api.ledgerline.example"}
secure = c.get("/healthz", **https)
plain = c.get("/v1/merchant", HTTP_HOST="api.ledgerline.example")
api = c.get("/v1/merchant", **https)
print(json.dumps({
    "secure": dict(secure.headers), "plain_status": plain.status_code, "plain_location": plain.get("Location"),
    "api": dict(api.headers), "api_status": api.status_code,
}))
"""


@pytest.mark.django_db
def test_production_answers_with_hsts_csp_nosniff_and_redirects_plain_http(worker_env):
    seen = processes.django_probe(
        _PROBE,
        {**PRODUCTION, "DATABASE_URL": worker_env["DATABASE_URL"], "REDIS_URL": worker_env["REDIS_URL"]},
    )
    secure = seen["secure"]
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert secure["X-Content-Type-Options"] == "nosniff"
    assert secure["X-Frame-Options"] == "DENY"
    assert secure["Referrer-Policy"] == "same-origin"
    policy = {part.split()[0]: part.split()[1:] for part in secure["Content-Security-Policy"].split("; ")}
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    # An API answer (a 401 in the error envelope) carries the same headers.
    assert seen["api_status"] == 401
    assert seen["api"]["Content-Security-Policy"] == secure["Content-Security-Policy"]
    assert seen["api"]["Strict-Transport-Security"] == secure["Strict-Transport-Security"]
    # Plain HTTP is redirected to HTTPS before anything else happens.
    assert seen["plain_status"] == 301
    assert seen["plain_location"] == "https://api.ledgerline.example/v1/merchant"


def test_the_test_shape_sends_no_hsts_over_plain_http(client):
    response = client.get("/healthz")
    assert "Strict-Transport-Security" not in response
    assert response["X-Content-Type-Options"] == "nosniff"
