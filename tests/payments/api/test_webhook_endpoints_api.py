"""``/v1/webhook_endpoints``: the secret is shown once, URLs are vetted, tenants and modes never cross."""

from __future__ import annotations

import pytest

from payments.models import WebhookEndpoint
from payments.services.merchants import api_key_create, merchant_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    merchant, issued = merchant_create(name="Acme", email="ops@acme.test")
    return merchant, {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def _create(client, auth, **params):
    body = {"url": "http://127.0.0.1:9000/hooks", "enabled_events": ["payment.succeeded"], **params}
    return client.post("/v1/webhook_endpoints", body, content_type="application/json", **auth)


def test_create_returns_the_secret_once(client, acme):
    _, auth = acme
    response = _create(client, auth, description="orders", metadata={"team": "shop"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"].startswith("we_")
    assert body["object"] == "webhook_endpoint"
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["enabled_events"], body["status"]) == (
        "http://127.0.0.1:9000/hooks",
        ["payment.succeeded"],
        "enabled",
    )
    assert (body["description"], body["metadata"], body["livemode"]) == ("orders", {"team": "shop"}, False)

    retrieved = client.get(f"/v1/webhook_endpoints/{body['id']}", **auth).json()
    assert "secret" not in retrieved
    assert retrieved["id"] == body["id"]
    listed = client.get("/v1/webhook_endpoints", **auth).json()
    assert [e["id"] for e in listed["data"]] == [body["id"]]
    assert "secret" not in listed["data"][0]


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"url": "ftp://hooks.acme.test/"}, "url", "url_invalid"),
        ({"enabled_events": ["payment.exploded"]}, "enabled_events[0]", "parameter_invalid"),
        ({"enabled_events": []}, "enabled_events", "parameter_invalid"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", "parameter_invalid"),
    ],
)
def test_invalid_parameters_are_400_naming_the_parameter(client, acme, params, param, code):
    _, auth = acme
    response = _create(client, auth, **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert error["code"] in {code, "min_length"}
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://localhost/hooks", "http://10.0.0.1/hooks", "http://169.254.169.254/latest/meta-data/"]
)
def test_private_urls_are_refused_when_the_setting_is_off(client, acme, settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    _, auth = acme
    response = _create(client, auth, url=url)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "url_not_allowed"
    assert response.json()["error"]["param"] == "url"
    endpoint = _create_allowed_then_update(client, auth, settings, url)
    assert endpoint.status_code == 400


def _create_allowed_then_update(client, auth, settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    created = _create(client, auth).json()
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    return client.post(f"/v1/webhook_endpoints/{created['id']}", {"url": url}, content_type="application/json", **auth)


def test_update_disable_re_enable_and_delete(client, acme):
    _, auth = acme
    endpoint_id = _create(client, auth).json()["id"]
    path = f"/v1/webhook_endpoints/{endpoint_id}"

    changed = client.post(
        path, {"enabled_events": ["*"], "metadata": {"a": "1"}}, content_type="application/json", **auth
    ).json()
    assert (changed["enabled_events"], changed["metadata"]) == (["*"], {"a": "1"})
    assert client.post(path, {"disabled": True}, content_type="application/json", **auth).json()["status"] == "disabled"
    assert client.post(path, {"disabled": False}, content_type="application/json", **auth).json()["status"] == "enabled"

    deleted = client.delete(path, **auth)
    assert deleted.json() == {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}
    assert client.get(path, **auth).status_code == 404


def test_roll_secret_returns_a_new_secret_and_keeps_the_old_one_for_the_overlap(client, acme):
    _, auth = acme
    created = _create(client, auth).json()
    rolled = client.post(
        f"/v1/webhook_endpoints/{created['id']}/roll_secret",
        {"expires_in": 3600},
        content_type="application/json",
        **auth,
    )
    assert rolled.status_code == 200
    assert rolled.json()["secret"].startswith("whsec_")
    assert rolled.json()["secret"] != created["secret"]
    secrets = WebhookEndpoint.objects.get(pk=created["id"]).secrets.order_by("created", "id")
    assert [s.secret for s in secrets] == [created["secret"], rolled.json()["secret"]]
    assert secrets[0].expires_at is not None
    assert secrets[1].expires_at is None
    too_long = client.post(
        f"/v1/webhook_endpoints/{created['id']}/roll_secret",
        {"expires_in": 8 * 86400},
        content_type="application/json",
        **auth,
    )
    assert too_long.status_code == 400


def test_another_merchants_or_the_other_modes_endpoint_is_404(client, acme):
    merchant, auth = acme
    endpoint_id = _create(client, auth).json()["id"]
    _, other = merchant_create(name="Other", email="ops@other.test")
    other_auth = {"HTTP_AUTHORIZATION": f"Bearer {other.secret}"}
    live_auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(merchant=merchant, livemode=True).secret}"}
    for foreign in (other_auth, live_auth):
        path = f"/v1/webhook_endpoints/{endpoint_id}"
        assert client.get(path, **foreign).status_code == 404
        assert client.post(path, {"disabled": True}, content_type="application/json", **foreign).status_code == 404
        assert client.post(f"{path}/roll_secret", {}, content_type="application/json", **foreign).status_code == 404
        assert client.delete(path, **foreign).status_code == 404
        assert client.get("/v1/webhook_endpoints", **foreign).json()["data"] == []
    assert client.get(f"/v1/webhook_endpoints/{endpoint_id}", **auth).json()["status"] == "enabled"
    assert client.get(f"/v1/webhook_endpoints/{endpoint_id}", **other_auth).json()["error"]["code"] == (
        "resource_missing"
    )
