"""Events: every state change has its event, every event row of the outbox was published, and every event for an
enabled endpoint is delivered or scheduled for another try.

Anything younger than ``grace`` is in flight (the relay or a delivery may be working on it right now) and is not a
finding yet; the chaos run drains the system before it audits, so nothing should be left that young.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.db.models import Count

from audit.findings import AuditReport
from payments.enums import OutboxKind, PaymentStatus, PayoutStatus, RefundStatus, WebhookDeliveryStatus
from payments.models import (
    Event,
    OutboxMessage,
    PaymentStateChange,
    Payout,
    Refund,
    WebhookDelivery,
    WebhookEndpoint,
)

_REFUND_EVENTS: dict[str, str] = {RefundStatus.SUCCEEDED: "refund.succeeded", RefundStatus.FAILED: "refund.failed"}
_PAYOUT_EVENTS: dict[str, str] = {PayoutStatus.PAID: "payout.paid", PayoutStatus.FAILED: "payout.failed"}


def _events_written() -> Counter[tuple[str, str]]:
    """How many events of each type were written for each object: outbox rows (kept a week after publication) or,
    for rows already pruned, the events made from them."""
    written: Counter[tuple[str, str]] = Counter()
    for row in (
        OutboxMessage.objects.filter(kind=OutboxKind.EVENT)
        .values("aggregate_id", "topic")
        .annotate(n=Count("id"))
        .order_by()
    ):
        written[(row["aggregate_id"], row["topic"])] = row["n"]
    made: Counter[tuple[str, str]] = Counter()
    for event_type, data in (
        Event.objects.filter(outbox_id__isnull=False).values_list("type", "data").iterator(chunk_size=5000)
    ):
        obj = data.get("object") if isinstance(data, dict) else None
        if isinstance(obj, dict) and obj.get("id"):
            made[(str(obj["id"]), event_type)] += 1
    for key, n in made.items():
        written[key] = max(written[key], n)
    return written


def state_change_events_check(report: AuditReport, *, cutoff: datetime) -> None:
    written = _events_written()
    changes = (
        PaymentStateChange.objects.exclude(to_status=PaymentStatus.REQUIRES_CONFIRMATION)
        .filter(created__lt=cutoff)
        .values("payment_id", "to_status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in changes:
        report.counts["payment_state_changes"] += row["n"]
        event_type = f"payment.{row['to_status']}"
        if written[(row["payment_id"], event_type)] < row["n"]:
            report.add(
                "state_change_without_event",
                row["payment_id"],
                f"{row['n']} change(s) to {row['to_status']}, {written[(row['payment_id'], event_type)]} {event_type}",
            )
    for model, expected in ((Refund, _REFUND_EVENTS), (Payout, _PAYOUT_EVENTS)):
        for object_id, status in model.objects.filter(status__in=list(expected), updated__lt=cutoff).values_list(
            "id", "status"
        ):
            report.counts[f"{model.__name__.lower()}s_final"] += 1
            if not written[(object_id, expected[status])]:
                report.add("state_change_without_event", object_id, f"{status} without a {expected[status]} event")


def outbox_published_check(report: AuditReport, *, cutoff: datetime) -> None:
    stuck = OutboxMessage.objects.filter(published_at=None, available_at__lt=cutoff).order_by("id")
    for row in stuck.only("id", "kind", "topic", "aggregate_id", "publish_attempts", "last_error")[:500]:
        report.add(
            "outbox_not_published",
            f"outbox {row.id}",
            f"{row.kind} {row.topic} of {row.aggregate_id or '-'} "
            f"(tries {row.publish_attempts}: {row.last_error[:80]})",
        )
    published_events = OutboxMessage.objects.filter(kind=OutboxKind.EVENT, published_at__isnull=False)
    report.counts["outbox_events_published"] += published_events.count()
    missing = published_events.exclude(merchant_id=None).exclude(
        id__in=Event.objects.filter(outbox_id__isnull=False).values("outbox_id")
    )
    for row in missing.only("id", "topic", "aggregate_id")[:500]:
        report.add("published_without_event", f"outbox {row.id}", f"{row.topic} of {row.aggregate_id}: no event made")


def deliveries_check(report: AuditReport, *, cutoff: datetime) -> None:
    _disabled_endpoints_check(report, cutoff=cutoff)
    for endpoint in WebhookEndpoint.objects.filter(status="enabled").order_by("id"):
        report.counts["webhook_endpoints_enabled"] += 1
        deliveries = {
            event_id: (status, next_attempt_at)
            for event_id, status, next_attempt_at in WebhookDelivery.objects.filter(endpoint=endpoint).values_list(
                "event_id", "status", "next_attempt_at"
            )
        }
        events = Event.objects.filter(
            merchant_id=endpoint.merchant_id,
            livemode=endpoint.livemode,
            created__gte=endpoint.created,
            created__lt=cutoff,
        ).values_list("id", "type")
        for event_id, event_type in events.iterator(chunk_size=5000):
            if not endpoint.subscribes_to(event_type):
                continue
            report.counts["events_for_enabled_endpoints"] += 1
            status, next_attempt_at = deliveries.get(event_id, (None, None))
            if status == WebhookDeliveryStatus.SUCCEEDED:
                report.counts["events_delivered"] += 1
            elif status == WebhookDeliveryStatus.PENDING and next_attempt_at is not None:
                report.counts["events_scheduled_for_retry"] += 1
            elif status is None:
                report.add("event_never_delivered", event_id, f"{event_type}: no delivery to {endpoint.id}")
            else:
                report.add("event_delivery_given_up", event_id, f"{event_type}: {status} to enabled {endpoint.id}")


def _disabled_endpoints_check(report: AuditReport, *, cutoff: datetime) -> None:
    """An event emitted while an endpoint was disabled is listed as undelivered (``delivery_success=false``): it has
    a delivery to that endpoint, and not a succeeded one, so resending the missed events finds it."""
    for endpoint in WebhookEndpoint.objects.filter(status="disabled").exclude(disabled_at=None).order_by("id"):
        report.counts["webhook_endpoints_disabled"] += 1
        delivered = dict(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event_id", "status"))
        events = Event.objects.filter(
            merchant_id=endpoint.merchant_id,
            livemode=endpoint.livemode,
            created__gte=endpoint.disabled_at,
            created__lt=cutoff,
        ).values_list("id", "type")
        for event_id, event_type in events.iterator(chunk_size=5000):
            if not endpoint.subscribes_to(event_type):
                continue
            report.counts["events_missed_while_disabled"] += 1
            if event_id not in delivered:
                report.add("event_missed_unlisted", event_id, f"{event_type}: no delivery to disabled {endpoint.id}")
