"""Webhook endpoints and their signing secrets: the only write path for both.

A merchant registers an endpoint (its URL vetted by the SSRF guard in ``webhook_transport``), chooses the event
types it wants, rolls its secret with an overlap so no delivery is rejected while it deploys the new one, and may
disable or re-enable it; the deliveries disable an endpoint that has failed for too long (``webhook_deliveries``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.db import lock_rows
from core.errors import LedgerlineError
from payments.enums import EventType, WebhookEndpointFormat, WebhookEndpointStatus
from payments.models import Merchant, WebhookEndpoint, WebhookSecret
from payments.services.webhook_transport import webhook_url_check

logger = structlog.get_logger(__name__)

DEFAULT_ROLL_OVERLAP = timedelta(hours=24)
MAX_ROLL_OVERLAP = timedelta(days=7)
_SECRET_BYTES = 24


class WebhookEndpointInvalidError(LedgerlineError):
    """The webhook endpoint's parameters are invalid."""

    code = "parameter_invalid"


@dataclass(frozen=True)
class IssuedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once, when created or rolled


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(_SECRET_BYTES)}"


def _clean_enabled_events(values: Iterable[str]) -> list[str]:
    cleaned = list(dict.fromkeys(values))  # de-duplicated, order kept
    if not cleaned:
        raise WebhookEndpointInvalidError(
            "enabled_events must name at least one event type, or '*'.", param="enabled_events"
        )
    unknown = [value for value in cleaned if value != "*" and value not in EventType.values]
    if unknown:
        raise WebhookEndpointInvalidError(
            f"Unknown event type {unknown[0]!r}; use one of the documented types or '*'.", param="enabled_events"
        )
    return ["*"] if "*" in cleaned else cleaned


def webhook_endpoint_create(
    *,
    merchant: Merchant,
    livemode: bool,
    url: str,
    enabled_events: Sequence[str],
    description: str = "",
    metadata: dict[str, str] | None = None,
    webhook_format: str = WebhookEndpointFormat.LEDGERLINE,
) -> IssuedEndpoint:
    """Registers an endpoint after vetting its URL (SSRF guard: this resolves DNS, so it runs before the
    transaction). The returned secret is never shown again."""
    webhook_url_check(url)
    events = _clean_enabled_events(enabled_events)
    secret = _new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            merchant=merchant,
            livemode=livemode,
            url=url,
            enabled_events=events,
            description=description,
            metadata=metadata or {},
            format=webhook_format,
        )
        WebhookSecret.objects.create(endpoint=endpoint, secret=secret)
    logger.info("webhook_endpoint_created", endpoint_id=endpoint.id, url=url, livemode=livemode)
    return IssuedEndpoint(endpoint=endpoint, secret=secret)


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    enabled_events: Sequence[str] | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    disabled: bool | None = None,
) -> WebhookEndpoint:
    """Changes what is given; ``disabled=False`` re-enables an endpoint the platform disabled."""
    if url is not None:
        webhook_url_check(url)
    events = _clean_enabled_events(enabled_events) if enabled_events is not None else None
    with transaction.atomic():
        locked: WebhookEndpoint = lock_rows(WebhookEndpoint.objects.filter(pk=endpoint.pk)).get()
        if url is not None:
            locked.url = url
        if events is not None:
            locked.enabled_events = events
        if description is not None:
            locked.description = description
        if metadata is not None:
            # Stripe-style: an empty value removes a key.
            locked.metadata = {k: v for k, v in {**locked.metadata, **metadata}.items() if v != ""}
        locked.save()
    if disabled is True:
        return webhook_endpoint_disable(endpoint=locked, reason="disabled by the merchant")
    if disabled is False:
        return webhook_endpoint_enable(endpoint=locked)
    return locked


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Re-enables an endpoint and forgets its failure streak. Deliveries given up on stay so; resend them."""
    with transaction.atomic():
        locked: WebhookEndpoint = lock_rows(WebhookEndpoint.objects.filter(pk=endpoint.pk)).get()
        locked.status = WebhookEndpointStatus.ENABLED
        locked.disabled_reason = ""
        locked.disabled_at = None
        locked.consecutive_failures = 0
        locked.failing_since = None
        locked.save()
    logger.info("webhook_endpoint_enabled", endpoint_id=locked.id)
    return locked


def webhook_endpoint_disable(
    *, endpoint: WebhookEndpoint, reason: str, notify: bool = False, now: datetime | None = None
) -> WebhookEndpoint:
    with transaction.atomic():
        locked: WebhookEndpoint = lock_rows(WebhookEndpoint.objects.filter(pk=endpoint.pk)).get()
        webhook_endpoint_disable_locked(endpoint=locked, reason=reason, notify=notify, now=now or timezone.now())
    return locked


def webhook_endpoint_disable_locked(*, endpoint: WebhookEndpoint, reason: str, notify: bool, now: datetime) -> None:
    """Disables an endpoint the caller holds locked; with ``notify``, logs an error and emails the merchant once
    committed (the deliveries' auto-disable)."""
    if endpoint.status == WebhookEndpointStatus.DISABLED:
        return
    endpoint.status = WebhookEndpointStatus.DISABLED
    endpoint.disabled_reason = reason[:300]
    endpoint.disabled_at = now
    endpoint.save(update_fields=["status", "disabled_reason", "disabled_at"])
    if not notify:
        logger.info("webhook_endpoint_disabled", endpoint_id=endpoint.id, reason=reason)
        return
    logger.error(
        "webhook_endpoint_disabled",
        endpoint_id=endpoint.id,
        merchant_id=endpoint.merchant_id,
        url=endpoint.url,
        reason=reason,
        consecutive_failures=endpoint.consecutive_failures,
    )
    endpoint_id, url, merchant_id = endpoint.id, endpoint.url, endpoint.merchant_id
    transaction.on_commit(
        lambda: _email_endpoint_disabled(endpoint_id=endpoint_id, url=url, merchant_id=merchant_id, reason=reason)
    )


def _email_endpoint_disabled(*, endpoint_id: str, url: str, merchant_id: str, reason: str) -> None:
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None or not merchant.email:
        return
    try:
        send_mail(
            subject=f"Ledgerline disabled your webhook endpoint {url}",
            message=(
                f"We disabled webhook endpoint {endpoint_id} ({url}) because {reason}.\n\n"
                "Events keep being recorded and can be listed with GET /v1/events?delivery_success=false. "
                "Once the endpoint works again, re-enable it with POST /v1/webhook_endpoints/"
                f"{endpoint_id} and disabled=false.\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[merchant.email],
        )
    except OSError:
        # The alert is also an ERROR log line; a mail server outage must not fail the delivery bookkeeping.
        logger.exception("webhook_endpoint_disabled_email_failed", endpoint_id=endpoint_id)


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Deletes the endpoint with its secrets and delivery history; a delivery in flight finds it gone and stops."""
    endpoint.delete()
    logger.info("webhook_endpoint_deleted", endpoint_id=endpoint.id)


def webhook_endpoint_roll_secret(
    *, endpoint: WebhookEndpoint, expires_in: timedelta = DEFAULT_ROLL_OVERLAP, now: datetime | None = None
) -> IssuedEndpoint:
    """Issues a new signing secret. The current ones keep signing (one ``v1=`` each) for ``expires_in`` more,
    so the merchant can deploy the new secret without rejecting a single delivery; zero retires them at once."""
    if not timedelta(0) <= expires_in <= MAX_ROLL_OVERLAP:
        raise WebhookEndpointInvalidError("expires_in must be between 0 and 7 days (in seconds).", param="expires_in")
    now = now or timezone.now()
    secret = _new_secret()
    with transaction.atomic():
        locked: WebhookEndpoint = lock_rows(WebhookEndpoint.objects.filter(pk=endpoint.pk)).get()
        locked.secrets.filter(expires_at__lte=now).delete()
        locked.secrets.filter(Q(expires_at=None) | Q(expires_at__gt=now + expires_in)).update(
            expires_at=now + expires_in
        )
        WebhookSecret.objects.create(endpoint=locked, secret=secret)
    logger.info("webhook_secret_rolled", endpoint_id=locked.id, overlap_seconds=int(expires_in.total_seconds()))
    return IssuedEndpoint(endpoint=locked, secret=secret)


def webhook_signing_secrets(*, endpoint_id: str, now: datetime) -> list[str]:
    """The secrets that sign a delivery now, newest first."""
    active = WebhookSecret.objects.filter(endpoint_id=endpoint_id).filter(Q(expires_at=None) | Q(expires_at__gt=now))
    return list(active.order_by("-created", "-id").values_list("secret", flat=True))
