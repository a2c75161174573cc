"""Stripe's two ways of sending the secret key: ``Bearer sk_…`` (the SDKs) and HTTP Basic with the key as the user
(``curl -u sk_test_…:``). Both end in the platform's own key check, failure throttling included."""

from __future__ import annotations

import base64
import binascii

from rest_framework import exceptions

from payments.api.authentication import ApiKeyAuthentication
from payments.models import ApiKey, Merchant


class StripeKeyAuthentication(ApiKeyAuthentication):
    def _authenticate(self, header: str) -> tuple[Merchant, ApiKey]:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise exceptions.AuthenticationFailed("Invalid Basic authorization header.") from None
            header = f"Bearer {decoded.partition(':')[0]}"
        elif scheme.lower() != "bearer":
            raise exceptions.AuthenticationFailed(
                "Use 'Authorization: Bearer sk_…' or HTTP Basic with the secret key as the user name."
            )
        return super()._authenticate(header)

    def authenticate_header(self, request: object) -> str:
        return 'Basic realm="Stripe"'
