"""Signing in to the back office (backoffice/signin.py): a username is locked out from one address after repeated
failures, and staff who enrolled an authenticator must give its code; everyone else signs in with a password."""

from __future__ import annotations

import io
import time

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct horse battery"
OFFICE = "198.51.100.7"
ELSEWHERE = "203.0.113.9"


@pytest.fixture
def staff() -> object:
    return get_user_model().objects.create_user("sam", "sam@x.test", PASSWORD, is_staff=True)


def sign_in(client: Client, username: str, password: str, *, address: str = OFFICE, code: str = "") -> int:
    response = client.post(LOGIN, {"username": username, "password": password, "otp_token": code}, REMOTE_ADDR=address)
    return response.status_code


def in_back_office(client: Client) -> bool:
    return client.get("/admin/", REMOTE_ADDR=OFFICE).status_code == 200


def test_a_username_is_locked_out_from_one_address_after_the_limit_even_with_the_right_password(staff):
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT
    assert limit >= 2
    for _ in range(limit - 1):
        assert sign_in(client, "sam", "wrong") == 200  # the form again, with its error
    assert sign_in(client, "sam", "wrong") == 429

    assert sign_in(client, "sam", PASSWORD) == 429
    assert not in_back_office(client)


def test_the_lockout_counts_one_username_from_one_address_only(staff):
    get_user_model().objects.create_user("sue", "sue@x.test", PASSWORD, is_staff=True)
    attacker = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(attacker, "sam", "wrong")
    assert sign_in(attacker, "sam", PASSWORD) == 429

    # The same person from elsewhere, and a colleague behind the attacker's address, still get in.
    sam_at_home = Client()
    assert sign_in(sam_at_home, "sam", PASSWORD, address=ELSEWHERE) == 302
    assert in_back_office(sam_at_home)
    colleague = Client()
    assert sign_in(colleague, "sue", PASSWORD) == 302
    assert in_back_office(colleague)


def test_behind_trusted_proxies_the_lockout_counts_the_forwarded_client_address(staff, settings):
    settings.BACKOFFICE_TRUSTED_PROXIES = 1
    proxy = "10.0.0.2"

    def through_proxy(client: Client, password: str, forwarded_for: str) -> int:
        data = {"username": "sam", "password": password}
        return client.post(LOGIN, data, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    for _ in range(settings.AXES_FAILURE_LIMIT):
        # A client cannot escape the count by writing its own X-Forwarded-For: the proxy appends the real address.
        through_proxy(Client(), "wrong", f"192.0.2.{_}, {OFFICE}")
    assert through_proxy(Client(), PASSWORD, OFFICE) == 429
    assert through_proxy(Client(), PASSWORD, ELSEWHERE) == 302


def _code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def enrolled(staff) -> TOTPDevice:
    out = io.StringIO()
    call_command("otp_enroll", "sam", stdout=out)
    assert "otpauth://totp/" in out.getvalue()
    device = TOTPDevice.objects.get(user=staff)
    assert not device.confirmed  # not required until a code proves the app has the secret
    with pytest.raises(CommandError):
        call_command("otp_enroll", "sam", "--confirm", "000000" if _code(device) != "000000" else "111111")
    call_command("otp_enroll", "sam", "--confirm", _code(device), stdout=io.StringIO())
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_staff_with_an_enrolled_authenticator_must_give_its_code(enrolled, settings):
    # django-otp delays the next check after a wrong code (1 s, doubling); this test must not wait for it.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client = Client()
    assert sign_in(client, "sam", PASSWORD) == 200
    assert not in_back_office(client)
    wrong = "000000" if _code(enrolled, steps_ahead=1) != "000000" else "111111"
    assert sign_in(client, "sam", PASSWORD, code=wrong) == 200
    assert not in_back_office(client)

    # The confirmation used the current step's code, and a code is never accepted twice: the next step's is.
    assert sign_in(client, "sam", PASSWORD, code=_code(enrolled, steps_ahead=1)) == 302
    assert in_back_office(client)


def test_a_session_that_gave_no_code_does_not_open_the_back_office_of_an_enrolled_user(enrolled, staff):
    client = Client()
    client.force_login(staff)  # signed in some other way, e.g. before enrolling
    assert not in_back_office(client)


def test_wrong_codes_count_towards_the_lockout(enrolled):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "sam", PASSWORD, code="12345") == 200
    assert sign_in(client, "sam", PASSWORD, code="12345") == 429


def test_removing_the_authenticator_lets_the_password_alone_sign_in_again(enrolled):
    call_command("otp_enroll", "sam", "--remove", stdout=io.StringIO())
    client = Client()
    assert sign_in(client, "sam", PASSWORD) == 302
    assert in_back_office(client)


def test_staff_without_an_authenticator_sign_in_with_the_password_alone(staff):
    client = Client()
    assert sign_in(client, "sam", PASSWORD) == 302
    assert in_back_office(client)
