"""The payment page's reads: its timeline and every related object, each a bounded number of queries.

The objects of one payment are the payment itself, its refunds and its disputes; everything else (attempts, ledger
transactions, events and their webhook deliveries, audit entries, the customer's other payments) hangs off those
ids. Amounts come out in the currency's units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q, QuerySet, Sum

from backoffice.models import AuditLogEntry
from backoffice.presentation import admin_url
from core.amounts import amount_display
from ledger.models import JournalTransaction
from payments.enums import OutboxKind
from payments.models import Dispute, Event, OutboxMessage, Payment, PaymentAttempt, Refund

CUSTOMER_PAYMENTS_SHOWN = 10
EVENTS_SHOWN = 100


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    kind: str  # state, event, ledger, audit
    text: str
    url: str | None = None


@dataclass
class PaymentRelated:
    refunds: list[Refund]
    disputes: list[Dispute]
    attempts: list[PaymentAttempt]
    transactions: list[JournalTransaction]  # annotated: moved, moved_currency
    events: list[Event]  # annotated: delivery_count, failed_deliveries
    customer_payments: list[Payment] = field(default_factory=list)
    customer_payment_count: int = 0

    @property
    def ids(self) -> list[str]:
        return [obj.pk for obj in (*self.refunds, *self.disputes)]


def _events(payment: Payment, ids: list[str]) -> QuerySet[Event]:
    # Event ids are time-ordered like payment ids (core.ids): nothing about this payment happened before it was
    # created, so the merchant's event index is read from the payment's creation onwards only.
    since = f"evt_{payment.id.split('_', 1)[1][:10]}"
    return (
        Event.objects.filter(
            merchant_id=payment.merchant_id, livemode=payment.livemode, id__gte=since, data__object__id__in=ids
        )
        .annotate(
            delivery_count=Count("deliveries"),
            failed_deliveries=Count("deliveries", filter=~Q(deliveries__status="succeeded")),
        )
        .order_by("id")
    )


def payment_related(payment: Payment) -> PaymentRelated:
    refunds = list(payment.refunds.order_by("id"))
    disputes = list(payment.disputes.order_by("id"))
    ids = [payment.id, *(r.id for r in refunds), *(d.id for d in disputes)]
    transactions = list(
        JournalTransaction.objects.filter(source_type__in=["payment", "refund", "dispute"], source_id__in=ids)
        .annotate(
            moved=Sum("entries__amount", filter=Q(entries__direction="debit")),
            moved_currency=Min("entries__currency"),
        )
        .order_by("posted_at", "id")
    )
    related = PaymentRelated(
        refunds=refunds,
        disputes=disputes,
        attempts=list(payment.attempts.order_by("id")),
        transactions=transactions,
        events=list(_events(payment, ids)[:EVENTS_SHOWN]),
    )
    if payment.customer_email:
        others = Payment.objects.filter(customer_email__iexact=payment.customer_email).exclude(pk=payment.pk)
        related.customer_payments = list(others.select_related("merchant").order_by("-id")[:CUSTOMER_PAYMENTS_SHOWN])
        related.customer_payment_count = (
            len(related.customer_payments)
            if len(related.customer_payments) < CUSTOMER_PAYMENTS_SHOWN
            else others.count()
        )
    return related


def _audit_text(entry: AuditLogEntry, currency: str) -> str:
    what = entry.action
    amount = entry.after.get("refund_amount") if isinstance(entry.after, dict) else None
    if amount is not None:
        what = f"{what} {amount_display(int(amount), currency)}"
    reason = f" — {entry.reason}" if entry.reason else ""
    return f"{entry.username}: {what}{reason} ({entry.outcome})"


def payment_timeline(payment: Payment, related: PaymentRelated) -> list[TimelineRow]:
    """Every state change, event, ledger transaction and back-office action of a payment and its refunds and
    disputes, oldest first."""
    rows: list[TimelineRow] = []
    for change in payment.state_changes.all():
        arrow = f"{change.from_status or '∅'} → {change.to_status}"
        rows.append(TimelineRow(change.created, "state", f"{arrow} ({change.transition})"))
    for event in related.events:
        subject = event.data.get("object", {}).get("id", "") if isinstance(event.data, dict) else ""
        rows.append(TimelineRow(event.created, "event", f"{event.type} · {subject}", admin_url(event)))
    # Events the relay has not published yet are outbox rows only (and published rows are pruned after a week).
    published = {event.outbox_id for event in related.events}
    outbox = OutboxMessage.objects.filter(kind=OutboxKind.EVENT, aggregate_id__in=[payment.id, *related.ids])
    for message in outbox.only("id", "created", "topic", "aggregate_id"):
        if message.id not in published:
            rows.append(
                TimelineRow(message.created, "event", f"{message.topic} · {message.aggregate_id} (not sent yet)")
            )
    for txn in related.transactions:
        moved: Any = getattr(txn, "moved", None)
        amount = f" · {amount_display(int(moved), txn.moved_currency)}" if moved else ""  # type: ignore[attr-defined]
        rows.append(TimelineRow(txn.posted_at, "ledger", f"{txn.reference}: {txn.description}{amount}", admin_url(txn)))
    audited = AuditLogEntry.objects.filter(
        Q(object_type="payment", object_id=payment.id) | Q(object_type="dispute", object_id__in=related.ids)
    )
    for entry in audited:
        rows.append(TimelineRow(entry.created, "audit", _audit_text(entry, payment.currency), admin_url(entry)))
    return sorted(rows, key=lambda row: row.at)
