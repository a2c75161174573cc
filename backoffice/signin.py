"""Signing in to the back office: lockout after repeated failures (django-axes) and TOTP for staff who enrolled
a device (django-otp).

* **Lockout**: ``BACKOFFICE_LOGIN_FAILURE_LIMIT`` failed sign-ins for one username from one client address lock
  that pair out for ``BACKOFFICE_LOGIN_COOLOFF_MINUTES`` (429). A wrong authenticator code counts as a failure too,
  so the second factor cannot be guessed either. Counting the pair, not the username alone, stops an attacker from
  locking a colleague out from elsewhere; counting it, not the address alone, keeps an office behind one NAT usable.
* **TOTP** is optional per user: a member of staff with a confirmed device (``manage.py otp_enroll``) must give the
  current code with the password, and a session of theirs that was not verified by a code does not open the back
  office. Users without a device sign in with their password alone (the seeded demo users, the browser test).
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django import forms
from django.conf import settings
from django.contrib.auth import user_login_failed
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django_otp import devices_for_user, user_has_device, verify_token
from django_otp.models import Device
from unfold.forms import AuthenticationForm
from unfold.widgets import BASE_INPUT_CLASSES


class LockoutBackend(AxesStandaloneBackend):
    """Axes' check, for sign-ins made over HTTP only.

    ``authenticate()`` without a request is a script or ``manage.py shell`` on the host, not a login attempt from
    the network; axes would refuse it outright, so it is left to the next backend.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)  # type: ignore[no-any-return]


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the lockout counts it.

    Behind ``BACKOFFICE_TRUSTED_PROXIES`` proxies that each append to ``X-Forwarded-For``, the client is the entry
    that many from the right; anything further left was written by the client and could be anything. With no
    proxy (the default) it is the peer's address; none for a request that came from no network (``force_login``).
    """
    proxies: int = settings.BACKOFFICE_TRUSTED_PROXIES
    if proxies:
        forwarded = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    address = request.META.get("REMOTE_ADDR")
    return str(address) if address else None  # axes stores it in an address column: no placeholder text


class StaffLoginForm(AuthenticationForm):
    """The admin's sign-in form with an authenticator code, required only of users who enrolled a device."""

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=16,
        help_text="Only if you enrolled an authenticator app.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "class": " ".join(BASE_INPUT_CLASSES)}
        ),
    )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()  # the password check: axes counts and locks out here
        user = self.get_user()
        if user is None or not user_has_device(user):
            return cleaned
        device = self._verified_device(user, str(cleaned.get("otp_token") or "").strip())
        if device is None:
            # Counted like a wrong password, so codes cannot be tried without limit behind a known password.
            user_login_failed.send(
                sender=type(self),
                credentials={"username": user.get_username()},
                request=self.request,
            )
            raise ValidationError("Enter the current code from your authenticator app.", code="otp_invalid")
        # django-otp's user_logged_in receiver marks the session as verified by this device.
        user.otp_device = device
        return cleaned

    @staticmethod
    def _verified_device(user: AbstractBaseUser, token: str) -> Device | None:
        if not token:
            return None
        for device in devices_for_user(user):
            # verify_token locks the device row and applies its throttling (a growing delay after failures).
            verified: Device | None = verify_token(user, device.persistent_id, token)
            if verified is not None:
                return verified
        return None


def second_factor_satisfied(request: HttpRequest) -> bool:
    """Whether the signed-in user has given a code, if they owe one (``django_otp.middleware.OTPMiddleware``)."""
    user = request.user
    if not user.is_authenticated:
        return True
    return bool(user.is_verified()) or not user_has_device(user)  # type: ignore[attr-defined]
