"""Webhook endpoints, their secrets and deliveries: the only write path for all three.

A delivery's life: the relay creates it with its event (same transaction) and enqueues a task after commit; the
task claims it (``in_flight_until``), POSTs outside any transaction, then records the attempt and either marks it
succeeded or schedules the next try on an exponential, jittered backoff for up to three days. The dispatcher (a
beat task) re-enqueues whatever is due, which covers both scheduled retries and tasks lost before a worker saw
them. Deliveries are at-least-once: receivers dedupe by event id.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import httpx
import structlog
from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.db import lock_rows, skip_locked
from core.errors import LedgerlineError
from ledgerline.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, signature_header
from payments.enums import EventType, WebhookDeliveryStatus, WebhookEndpointStatus
from payments.models import Event, Merchant, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookSecret
from payments.services.events import event_payload
from payments.webhooks.ssrf import WebhookTarget, WebhookUrlError, webhook_url_check

logger = structlog.get_logger(__name__)

DELIVER_TASK = "payments.webhook_deliver"
DEFAULT_ROLL_OVERLAP = timedelta(hours=24)
MAX_ROLL_OVERLAP = timedelta(days=7)

_SECRET_BYTES = 24
# After a delivery is enqueued, the dispatcher leaves it alone this long before assuming the task was lost.
_ENQUEUE_LEASE = timedelta(minutes=5)
# A claimed delivery counts as in flight this long: more than the 10 s request plus the task's hard time limit.
_IN_FLIGHT_LEASE = timedelta(seconds=75)
_FIRST_RETRY_SECONDS = 60.0
_MAX_RETRY_SECONDS = 12 * 3600.0
_JITTER = 0.25  # ±25 %: enough to spread a thundering herd, small enough that each delay still outgrows the last
_EXCERPT_CHARS = 500
_MAX_RESPONSE_BYTES = 16 * 1024
_DEFER_SECONDS = 1.0
_rng = random.SystemRandom()


class WebhookEndpointInvalidError(LedgerlineError):
    """The webhook endpoint's parameters are invalid."""

    code = "parameter_invalid"


@dataclass(frozen=True)
class IssuedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once, when created or rolled


@dataclass(frozen=True)
class AttemptOutcome:
    """What one call of :func:`webhook_delivery_attempt` did. ``result`` is one of ``succeeded``, ``retrying``
    (failed, next try scheduled), ``failed`` (given up), ``deferred`` (endpoint at its in-flight cap: try again
    shortly, nothing was sent) or ``skipped`` (nothing to do: gone, already done, or in flight elsewhere)."""

    delivery_id: str
    result: str
    status_code: int | None = None
    error: str = ""
    next_attempt_at: datetime | None = None


# --- endpoints -------------------------------------------------------------------------------------------------


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
        _disable(locked, reason=reason, notify=notify, now=now or timezone.now())
    return locked


def _disable(endpoint: WebhookEndpoint, *, reason: str, notify: bool, now: datetime) -> None:
    """Disables a locked endpoint; with ``notify``, logs an error and emails the merchant once committed."""
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


# --- deliveries --------------------------------------------------------------------------------------------------


def webhook_deliveries_create(*, events: Sequence[Event], now: datetime | None = None) -> list[WebhookDelivery]:
    """Fans new events out to every enabled endpoint of their merchant and mode that subscribes to their type.

    Runs inside the relay's transaction, so a delivery exists exactly when its event does; the caller enqueues
    them after commit (:func:`webhook_deliveries_enqueue`).
    """
    if not events:
        return []
    now = now or timezone.now()
    endpoints: dict[tuple[str, bool], list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in WebhookEndpoint.objects.filter(
        merchant_id__in={e.merchant_id for e in events}, status=WebhookEndpointStatus.ENABLED
    ):
        endpoints[(endpoint.merchant_id, endpoint.livemode)].append(endpoint)
    deliveries = [
        WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now + _ENQUEUE_LEASE)
        for event in events
        for endpoint in endpoints[(event.merchant_id, event.livemode)]
        if endpoint.subscribes_to(event.type)
    ]
    return WebhookDelivery.objects.bulk_create(deliveries)


def webhook_deliveries_enqueue(*, delivery_ids: Sequence[str], countdown: float | None = None) -> None:
    """Sends one delivery task per id to the webhooks queue once the current transaction commits.

    If the broker is down the rest are left to the dispatcher, which re-enqueues them when their lease ends:
    nothing is lost, and the caller is not held up by one connection timeout per delivery.
    """
    ids = list(delivery_ids)
    if not ids:
        return

    def send() -> None:
        for delivery_id in ids:
            try:
                current_app.send_task(
                    DELIVER_TASK,
                    args=[delivery_id],
                    queue=settings.WEBHOOKS_QUEUE,
                    countdown=countdown,
                    retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
                )
            except Exception:  # kombu raises a zoo of transport errors; any of them means "try later"
                logger.warning("webhook_enqueue_failed", delivery_id=delivery_id, left_to_dispatcher=len(ids))
                return

    transaction.on_commit(send)


def webhook_deliveries_claim_due(*, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Claims pending deliveries whose time has come (``SKIP LOCKED``: concurrent dispatchers take disjoint
    rows), gives each a fresh enqueue lease and returns their ids for enqueueing."""
    now = now or timezone.now()
    with transaction.atomic():
        due = WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now)
        ids = list(skip_locked(due.order_by("next_attempt_at")).values_list("id", flat=True)[:limit])
        if ids:
            WebhookDelivery.objects.filter(id__in=ids).update(next_attempt_at=now + _ENQUEUE_LEASE)
    return ids


def webhook_deliveries_dispatch_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """The dispatcher: claims what is due and enqueues it (after the claim commits)."""
    with transaction.atomic():
        ids = webhook_deliveries_claim_due(now=now, limit=limit)
        webhook_deliveries_enqueue(delivery_ids=ids)
    return len(ids)


def webhook_delivery_resend(*, delivery: WebhookDelivery, now: datetime | None = None) -> WebhookDelivery:
    """Sends a delivery again, whatever its state (the admin's "resend"): back to pending, enqueued now."""
    now = now or timezone.now()
    with transaction.atomic():
        locked: WebhookDelivery = lock_rows(WebhookDelivery.objects.filter(pk=delivery.pk)).get()
        locked.status = WebhookDeliveryStatus.PENDING
        locked.next_attempt_at = now + _ENQUEUE_LEASE
        locked.in_flight_until = None
        locked.save(update_fields=["status", "next_attempt_at", "in_flight_until"])
        webhook_deliveries_enqueue(delivery_ids=[locked.id])
    return locked


def webhook_retry_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """How long to wait after the ``attempt``-th failure: 1 min, 2, 4, … doubling up to 12 h, ±25 % jitter."""
    base = min(_FIRST_RETRY_SECONDS * 2 ** (attempt - 1), _MAX_RETRY_SECONDS)
    return timedelta(seconds=base * (rng or _rng).uniform(1 - _JITTER, 1 + _JITTER))


@dataclass(frozen=True)
class _Claim:
    delivery_id: str
    endpoint_id: str
    endpoint_failing: bool
    target_url: str
    body: bytes
    secrets: list[str]
    event_id: str


@dataclass(frozen=True)
class _HttpResult:
    status_code: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_delivery_attempt(*, delivery_id: str, now: datetime | None = None) -> AttemptOutcome:
    """Makes one attempt at a delivery: claim, POST (no transaction open), record.

    ``now`` drives the schedule (retry times, the retry window, leases) so tests control time without sleeping;
    the signature's timestamp is always the wall clock, because receivers check it against theirs.
    """
    now = now or timezone.now()
    claim = _claim(delivery_id=delivery_id, now=now)
    if isinstance(claim, AttemptOutcome):
        return claim
    result = _send(claim)
    return _record(claim, result, now=now)


def _claim(*, delivery_id: str, now: datetime) -> _Claim | AttemptOutcome:
    lease = now + _IN_FLIGHT_LEASE
    # One statement claims it: a duplicate task, or a second worker racing this one, matches no row.
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDeliveryStatus.PENDING)
        .filter(Q(in_flight_until=None) | Q(in_flight_until__lte=now))
        .update(in_flight_until=lease)
    )
    if not claimed:
        status = WebhookDelivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
        if status is None:
            reason = "delivery no longer exists"
        elif status == WebhookDeliveryStatus.PENDING:
            reason = "delivery in flight elsewhere"
        else:
            reason = f"delivery already {status}"
        return AttemptOutcome(delivery_id, "skipped", error=reason)
    delivery = WebhookDelivery.objects.select_related("event", "endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return AttemptOutcome(delivery_id, "skipped", error="delivery no longer exists")
    endpoint = delivery.endpoint
    if endpoint.status == WebhookEndpointStatus.DISABLED:
        WebhookDelivery.objects.filter(pk=delivery_id).update(status=WebhookDeliveryStatus.FAILED, in_flight_until=None)
        return AttemptOutcome(delivery_id, "failed", error="endpoint disabled")
    # A soft cap (no lock): claims racing for one endpoint may overshoot it by their number, never run away.
    in_flight = WebhookDelivery.objects.filter(endpoint_id=endpoint.id, in_flight_until__gt=now).count()
    if in_flight > settings.WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT:
        WebhookDelivery.objects.filter(pk=delivery_id, in_flight_until=lease).update(in_flight_until=None)
        return AttemptOutcome(delivery_id, "deferred", error="endpoint at its in-flight cap")
    body = json.dumps(event_payload(delivery.event), separators=(",", ":")).encode()
    return _Claim(
        delivery_id=delivery_id,
        endpoint_id=endpoint.id,
        endpoint_failing=bool(endpoint.consecutive_failures or endpoint.failing_since),
        target_url=endpoint.url,
        body=body,
        secrets=webhook_signing_secrets(endpoint_id=endpoint.id, now=now),
        event_id=delivery.event_id,
    )


@cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


_thread_http = threading.local()
_CLIENTS_PER_THREAD = 64


def _http_client(target: WebhookTarget) -> tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]:
    """This thread's event loop and a keep-alive client per target host (one per host name, so a TLS connection
    verified for one merchant's host is never reused for another's behind the same address)."""
    state: dict[str, Any] | None = getattr(_thread_http, "state", None)
    if state is None:
        state = _thread_http.state = {"loop": asyncio.new_event_loop(), "clients": {}}
    loop: asyncio.AbstractEventLoop = state["loop"]
    clients: dict[tuple[str, str, int], httpx.AsyncClient] = state["clients"]
    key = (target.scheme, target.host, target.port)
    client = clients.get(key)
    if client is None:
        if len(clients) >= _CLIENTS_PER_THREAD:
            loop.run_until_complete(clients.pop(next(iter(clients))).aclose())
        # trust_env=False: an HTTP(S)_PROXY in the environment must not route merchant traffic (or skip the guard).
        client = clients[key] = httpx.AsyncClient(
            verify=_ssl_context(),
            follow_redirects=False,
            trust_env=False,
            timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=30),
        )
    return loop, client


def _send(claim: _Claim) -> _HttpResult:
    started = time.monotonic()

    def elapsed_ms() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        # Checked again at every delivery: DNS may have changed since the endpoint was created.
        target = webhook_url_check(claim.target_url)
    except WebhookUrlError as exc:
        return _HttpResult(status_code=None, latency_ms=elapsed_ms(), error=f"refused: {exc.message}")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Ledgerline-Webhooks/1.0",
        SIGNATURE_HEADER: signature_header(claim.body, claim.secrets, int(time.time())),
        EVENT_ID_HEADER: claim.event_id,
    }
    timeout = settings.WEBHOOKS_TIMEOUT_SECONDS
    loop, client = _http_client(target)
    try:
        # wait_for is the hard deadline on the whole exchange (connect, headers, body), which httpx's per-operation
        # timeouts alone are not: a receiver trickling bytes would otherwise hold a worker indefinitely.
        status_code, excerpt = loop.run_until_complete(
            asyncio.wait_for(_post(client, target, claim.body, headers), timeout)
        )
    except TimeoutError:
        return _HttpResult(status_code=None, latency_ms=elapsed_ms(), error=f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return _HttpResult(status_code=None, latency_ms=elapsed_ms(), error=f"{type(exc).__name__}: {exc}"[:500])
    error = ""
    if 300 <= status_code < 400:
        error = "redirects are not followed: answer 2xx at the registered URL"
    elif not 200 <= status_code < 300:
        error = f"HTTP {status_code}"
    return _HttpResult(status_code=status_code, latency_ms=elapsed_ms(), excerpt=excerpt, error=error)


async def _post(
    client: httpx.AsyncClient, target: WebhookTarget, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    extensions: dict[str, Any] = {}
    if target.address is not None:
        # Connect to the address the guard vetted, while TLS and Host still speak the merchant's host name.
        headers = {**headers, "Host": target.host_header}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
    async with client.stream(
        "POST", target.connect_url, content=body, headers=headers, extensions=extensions
    ) as response:
        received = bytearray()
        async for chunk in response.aiter_bytes():
            received += chunk
            if len(received) >= _MAX_RESPONSE_BYTES:
                break
        return response.status_code, received[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")[:_EXCERPT_CHARS]


def _attempt_row(delivery_id: str, claim: _Claim, result: _HttpResult, now: datetime) -> WebhookDeliveryAttempt:
    return WebhookDeliveryAttempt.objects.create(
        delivery_id=delivery_id,
        attempted_at=now,
        url=claim.target_url,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        response_excerpt=result.excerpt,
        error=result.error,
        succeeded=result.succeeded,
    )


def _record(claim: _Claim, result: _HttpResult, *, now: datetime) -> AttemptOutcome:
    if result.succeeded:
        # The common case takes no lock beyond the delivery row's own update.
        with transaction.atomic():
            updated = WebhookDelivery.objects.filter(pk=claim.delivery_id).update(
                status=WebhookDeliveryStatus.SUCCEEDED,
                succeeded_at=now,
                last_attempt_at=now,
                in_flight_until=None,
                attempt_count=F("attempt_count") + 1,
            )
            if not updated:
                return AttemptOutcome(claim.delivery_id, "skipped", result.status_code, "deleted meanwhile")
            _attempt_row(claim.delivery_id, claim, result, now)
            if claim.endpoint_failing:
                WebhookEndpoint.objects.filter(pk=claim.endpoint_id).update(consecutive_failures=0, failing_since=None)
        return AttemptOutcome(claim.delivery_id, "succeeded", result.status_code)

    with transaction.atomic():
        # Lock order: endpoint, then delivery (as everywhere a transaction takes both).
        endpoint: WebhookEndpoint | None = lock_rows(WebhookEndpoint.objects.filter(pk=claim.endpoint_id)).first()
        delivery: WebhookDelivery | None = lock_rows(WebhookDelivery.objects.filter(pk=claim.delivery_id)).first()
        if endpoint is None or delivery is None:
            return AttemptOutcome(claim.delivery_id, "skipped", result.status_code, "deleted meanwhile")
        _attempt_row(delivery.id, claim, result, now)
        delivery.attempt_count += 1
        delivery.last_attempt_at = now
        delivery.in_flight_until = None
        retry_at = now + webhook_retry_delay(delivery.attempt_count)
        next_at: datetime | None = retry_at
        outcome = "retrying"
        if retry_at > delivery.created + timedelta(seconds=settings.WEBHOOKS_RETRY_WINDOW_SECONDS):
            delivery.status = WebhookDeliveryStatus.FAILED
            outcome, next_at = "failed", None
        else:
            delivery.next_attempt_at = retry_at
        delivery.save()
        endpoint.consecutive_failures += 1
        endpoint.failing_since = endpoint.failing_since or now
        endpoint.save(update_fields=["consecutive_failures", "failing_since"])
        failing_for = now - endpoint.failing_since
        if (
            failing_for >= timedelta(seconds=settings.WEBHOOKS_DISABLE_AFTER_SECONDS)
            and endpoint.consecutive_failures >= settings.WEBHOOKS_DISABLE_AFTER_FAILURES
        ):
            days = failing_for.total_seconds() / 86400
            reason = f"every delivery failed for {days:.1f} days ({endpoint.consecutive_failures} attempts in a row)"
            _disable(endpoint, reason=reason, notify=True, now=now)
    logger.info(
        "webhook_delivery_failed",
        delivery_id=claim.delivery_id,
        endpoint_id=claim.endpoint_id,
        status_code=result.status_code,
        error=result.error,
        outcome=outcome,
    )
    return AttemptOutcome(claim.delivery_id, outcome, result.status_code, result.error, next_at)
