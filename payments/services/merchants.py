"""Merchants and their API keys: the only write path for both."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from payments.enums import LateSuccessPolicy
from payments.exceptions import InvalidRequestError
from payments.models import ApiKey, Merchant

_KEY_RANDOM_BYTES = 24  # 32 url-safe characters, 192 bits: far beyond guessing, and hashing needs no salt


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str  # shown exactly once, never stored


def api_key_create(
    *, merchant: Merchant, livemode: bool = False, name: str = "", secret: str | None = None
) -> IssuedKey:
    """Issues a new secret key. ``secret`` is only for re-seeding a known demo key in the embedded shape."""
    if secret is None:
        secret = f"sk_{'live' if livemode else 'test'}_{secrets.token_urlsafe(_KEY_RANDOM_BYTES)}"
    api_key = ApiKey.objects.create(
        merchant=merchant,
        name=name,
        livemode=livemode,
        prefix=secret[:12],
        last4=secret[-4:],
        key_hash=api_key_hash(secret),
    )
    return IssuedKey(api_key=api_key, secret=secret)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


@transaction.atomic
def merchant_create(
    *,
    name: str,
    email: str,
    livemode: bool = False,
    refuse_duplicate_email: bool = False,
    upi_late_success_policy: str = LateSuccessPolicy.REFUND,
) -> tuple[Merchant, IssuedKey]:
    """A new merchant and its first key. ``refuse_duplicate_email``: refuse an email another merchant already has
    (``create_merchant`` run twice by mistake silently made a second merchant and key for one business)."""
    merchant = Merchant(name=name, email=email, upi_late_success_policy=upi_late_success_policy)
    merchant.full_clean()
    if refuse_duplicate_email and Merchant.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": ["A merchant with this email already exists."]})
    merchant.save()
    return merchant, api_key_create(merchant=merchant, livemode=livemode, name="default")


def merchant_settings_update(*, merchant: Merchant, upi_late_success_policy: str | None = None) -> Merchant:
    """The settings a merchant changes itself (the API): what happens to money a provider takes after the payment
    failed on our side (``refund`` it automatically, or ``fulfil``: the payment succeeds late). Applies to late
    successes learned from now on."""
    if upi_late_success_policy is not None:
        if upi_late_success_policy not in LateSuccessPolicy.values:
            raise InvalidRequestError(
                f"upi_late_success_policy must be one of {', '.join(LateSuccessPolicy.values)}.",
                code="parameter_invalid",
                param="upi_late_success_policy",
            )
        merchant.upi_late_success_policy = upi_late_success_policy
        merchant.save(update_fields=["upi_late_success_policy"])
    return merchant
