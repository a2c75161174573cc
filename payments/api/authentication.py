"""Secret-key authentication, with a short in-process cache of keys (and their merchant).

The cache's revocation semantics, documented in docs/api.md ("Authentication"): a key revoked, or a merchant
changed, by this process takes effect here at once (a save of an ``ApiKey`` or a ``Merchant`` empties the cache);
one revoked by another process (another gunicorn worker, the back office on another host) is honoured by this
process within ``LEDGERLINE_API_KEY_CACHE_SECONDS`` (5 s by default; 0 turns the cache off), after which the key
is read from the database again. A merchant's settings read by a request (UPI collect, the late-success policy)
are at most that old too.
"""

from __future__ import annotations

import copy
import hmac
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.logging import bind_merchant
from payments.api.throttling import auth_failure_record, auth_failures_wait
from payments.models import ApiKey, Merchant
from payments.services.merchants import api_key_hash

# Writing last_used_at on every request would turn every read into a write; a minute's precision is enough.
_LAST_USED_PRECISION = timedelta(minutes=1)

# key hash -> (monotonic time it was read from the database, the key with its merchant). Plain dict operations are
# atomic under the GIL, which is all the gthread workers' threads need: a lost race reads the database once more.
_cache: dict[str, tuple[float, ApiKey]] = {}


def api_key_cache_clear() -> None:
    """Forgets every cached key: the next request of each reads the database."""
    _cache.clear()


@receiver(post_save, sender=ApiKey, dispatch_uid="api_key_cache_on_key_save")
@receiver(post_delete, sender=ApiKey, dispatch_uid="api_key_cache_on_key_delete")
@receiver(post_save, sender=Merchant, dispatch_uid="api_key_cache_on_merchant_save")
@receiver(post_delete, sender=Merchant, dispatch_uid="api_key_cache_on_merchant_delete")
def _invalidate(**kwargs: Any) -> None:
    # A revocation or a merchant's settings change in this process is seen by its next request.
    api_key_cache_clear()


def _cached(digest: str) -> ApiKey | None:
    ttl = float(settings.LEDGERLINE_API_KEY_CACHE_SECONDS)
    hit = _cache.get(digest)
    if ttl <= 0 or hit is None or time.monotonic() - hit[0] >= ttl:
        return None
    # A copy per request (and of its merchant): a view that changes its request's objects changes nobody else's.
    api_key = copy.copy(hit[1])
    api_key.merchant = copy.copy(hit[1].merchant)
    return api_key


def _remember(digest: str, api_key: ApiKey) -> None:
    if float(settings.LEDGERLINE_API_KEY_CACHE_SECONDS) > 0:
        kept = copy.copy(api_key)
        kept.merchant = copy.copy(api_key.merchant)
        _cache[digest] = (time.monotonic(), kept)


def _touched(digest: str, at: Any) -> None:
    # The cached key's last_used_at follows the write, so this process writes it once a minute, not per request;
    # its read time stays as it was (the revocation delay is counted from the database read).
    hit = _cache.get(digest)
    if hit is not None:
        hit[1].last_used_at = at


def request_merchant(request: Request) -> Merchant:
    """The authenticated merchant of an API request (the views' permission class guarantees there is one)."""
    merchant = request.user
    if not isinstance(merchant, Merchant):
        raise exceptions.NotAuthenticated()
    return merchant


def request_api_key(request: Request) -> ApiKey:
    """The API key of an authenticated request: its ``livemode`` scopes every object the request can see."""
    api_key = request.auth
    if not isinstance(api_key, ApiKey):
        raise exceptions.NotAuthenticated()
    return api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer sk_test_…``: the merchant becomes ``request.user``, the key ``request.auth``."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Merchant, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        # Failed attempts are counted per client address; past the rate the address gets 429 before any lookup.
        address = str(request.META.get("REMOTE_ADDR") or "unknown")
        wait = auth_failures_wait(address)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail="Too many failed authentications from this address.")
        try:
            return self._authenticate(header)
        except exceptions.AuthenticationFailed:
            auth_failure_record(address)
            raise

    def _authenticate(self, header: str) -> tuple[Merchant, ApiKey]:
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <secret key>'.")
        if not secret.startswith(("sk_test_", "sk_live_")):
            raise exceptions.AuthenticationFailed("Invalid API key provided.")
        digest = api_key_hash(secret)
        api_key = _cached(digest)
        if api_key is None:
            api_key = ApiKey.objects.select_related("merchant").filter(key_hash=digest).first()
            # The lookup is by hash, so timing reveals nothing about the secret; the compare is belt and braces.
            if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
                raise exceptions.AuthenticationFailed("Invalid API key provided.")
            if api_key.revoked_at is not None:
                raise exceptions.AuthenticationFailed("This API key has been revoked.")
            _remember(digest, api_key)
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_PRECISION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
            _touched(digest, now)
        bind_merchant(api_key.merchant_id)
        return api_key.merchant, api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Documents the secret-key bearer scheme in the OpenAPI document."""

    target_class = "payments.api.authentication.ApiKeyAuthentication"
    name = "secretKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "sk_test_… / sk_live_…"}


def request_livemode(request: Request) -> bool:
    """Whether the request's API key is a live key; test and live objects never cross."""
    return request_api_key(request).livemode
