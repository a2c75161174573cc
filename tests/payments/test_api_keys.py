from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments.models import ApiKey, Merchant
from payments.services.merchants import api_key_create, api_key_revoke, merchant_create

pytestmark = pytest.mark.django_db


def _create_merchant_via_command(name: str, email: str) -> tuple[str, str]:
    out = io.StringIO()
    call_command("create_merchant", name, "--email", email, stdout=out, stderr=io.StringIO())
    fields = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    return fields["merchant_id"], fields["secret_key"]


def test_create_merchant_prints_id_and_a_working_key_stored_only_as_hash(client):
    merchant_id, secret = _create_merchant_via_command("Acme Ltd", "ops@acme.test")
    assert merchant_id.startswith("mch_")
    assert secret.startswith("sk_test_")
    assert len(secret) >= 40

    key = ApiKey.objects.get(merchant_id=merchant_id)
    assert secret not in {key.key_hash, key.prefix, key.last4, key.name}
    assert key.redacted == f"{secret[:12]}…{secret[-4:]}"

    response = client.get("/v1/merchant", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert response.json()["id"] == merchant_id
    assert response.json()["livemode"] is False
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_create_merchant_rejects_a_bad_email():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="email"):
        _create_merchant_via_command("Acme Ltd", "not-an-email")
    assert not Merchant.objects.exists()


def test_create_merchant_twice_with_the_same_email_refuses_unless_told_to():
    """It silently made a second merchant, with a second key, for one business (issue 12)."""
    from django.core.management.base import CommandError

    first_id, _ = _create_merchant_via_command("Acme Ltd", "ops@acme.test")
    with pytest.raises(CommandError, match="already exists"):
        _create_merchant_via_command("Acme Ltd", "OPS@acme.test")
    assert list(Merchant.objects.values_list("id", flat=True)) == [first_id]

    out = io.StringIO()
    call_command(
        "create_merchant", "Acme EU", "--email", "ops@acme.test", "--allow-duplicate-email", stdout=out, stderr=out
    )
    assert Merchant.objects.filter(email="ops@acme.test").count() == 2


@pytest.mark.parametrize(
    "header",
    ["", "Bearer sk_test_doesnotexist000000000000000", "Basic abc", "Bearer ", "Bearer pk_test_x"],
)
def test_missing_or_bad_key_is_401_in_the_error_envelope(client, header):
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/v1/merchant", **kwargs)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    assert error["message"]
    assert response["Request-Id"]


def test_a_revoked_key_stops_working_while_another_key_keeps_working(client):
    merchant, first = merchant_create(name="Acme", email="ops@acme.test")
    second = api_key_create(merchant=merchant, name="rotation")
    api_key_revoke(api_key=first.api_key)

    assert client.get("/v1/merchant", HTTP_AUTHORIZATION=f"Bearer {first.secret}").status_code == 401
    assert client.get("/v1/merchant", HTTP_AUTHORIZATION=f"Bearer {second.secret}").status_code == 200


def test_live_keys_report_livemode(client):
    _, issued = merchant_create(name="Acme", email="ops@acme.test", livemode=True)
    assert issued.secret.startswith("sk_live_")
    assert client.get("/v1/merchant", HTTP_AUTHORIZATION=f"Bearer {issued.secret}").json()["livemode"] is True


def test_the_late_success_policy_is_a_merchant_setting_in_the_command_and_the_api(client):
    out = io.StringIO()
    call_command(
        "create_merchant", "Keeps", "--email", "k@x.test", "--late-success-policy", "fulfil", stdout=out, stderr=out
    )
    fields = dict(line.split(": ", 1) for line in out.getvalue().splitlines() if ": " in line)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {fields['secret_key']}"}
    assert client.get("/v1/merchant", **auth).json()["upi_late_success_policy"] == "fulfil"
    changed = client.post(
        "/v1/merchant", {"upi_late_success_policy": "refund"}, content_type="application/json", **auth
    )
    assert (changed.status_code, changed.json()["upi_late_success_policy"]) == (200, "refund")
    assert Merchant.objects.get(pk=fields["merchant_id"]).upi_late_success_policy == "refund"
    refused = client.post("/v1/merchant", {"upi_late_success_policy": "keep"}, content_type="application/json", **auth)
    assert (refused.status_code, refused.json()["error"]["param"]) == (400, "upi_late_success_policy")
    assert Merchant.objects.get(pk=fields["merchant_id"]).upi_late_success_policy == "refund"
    # The default is to refund.
    merchant, _ = merchant_create(name="Default", email="d@x.test")
    assert merchant.upi_late_success_policy == "refund"


class _Clock:
    """The authentication cache's clock, moved by hand: the test says how much time passed, and never waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, settings) -> _Clock:
    from payments.api import authentication

    settings.LEDGERLINE_API_KEY_CACHE_SECONDS = 5
    authentication.api_key_cache_clear()
    fake = _Clock()
    monkeypatch.setattr(authentication, "time", fake)
    return fake


def _status(client, secret: str) -> int:
    return client.get("/v1/merchant", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code


def test_a_key_revoked_in_this_process_stops_at_once_even_when_cached(client, clock):
    _, issued = merchant_create(name="Acme", email="ops@acme.test")
    assert _status(client, issued.secret) == 200  # now cached
    api_key_revoke(api_key=ApiKey.objects.get(pk=issued.api_key.pk))
    assert _status(client, issued.secret) == 401


def test_a_key_revoked_by_another_process_stops_within_the_cache_lifetime(client, clock):
    _, issued = merchant_create(name="Acme", email="ops@acme.test")
    assert _status(client, issued.secret) == 200
    # Another process revokes it: the row changes, this process is not told.
    ApiKey.objects.filter(pk=issued.api_key.pk).update(revoked_at=timezone.now())
    clock.now += 4.9
    assert _status(client, issued.secret) == 200  # the documented delay: at most LEDGERLINE_API_KEY_CACHE_SECONDS
    clock.now += 0.1
    assert _status(client, issued.secret) == 401


def test_the_cache_serves_a_key_without_reading_it_again_and_can_be_turned_off(client, clock, settings):
    _, issued = merchant_create(name="Acme", email="ops@acme.test")
    assert _status(client, issued.secret) == 200
    with CaptureQueriesContext(connection) as cached:
        assert _status(client, issued.secret) == 200
    assert not [q for q in cached.captured_queries if "payments_apikey" in q["sql"]]
    settings.LEDGERLINE_API_KEY_CACHE_SECONDS = 0
    ApiKey.objects.filter(pk=issued.api_key.pk).update(revoked_at=timezone.now())
    assert _status(client, issued.secret) == 401
