"""The support back office: the payment page (timeline and actions), disputes queue, refunds, payouts, audit log.

It replaces the payments app's read-only payment admin with one that adds the timeline and the action buttons;
every button posts to a view here that calls ``backoffice.services`` (the API's own services, audited).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from backoffice import auth_admin, services  # noqa: F401 (auth_admin: imported for its registrations)
from backoffice.models import AuditLogEntry
from core.admin_base import ModelAdmin, TabularInline
from ledger.models import JournalTransaction
from payments.admin import PaymentAdmin
from payments.enums import DisputeStatus, OutboxKind, PaymentStatus, RefundReason
from payments.models import Dispute, OutboxMessage, Payment, PaymentAttempt, Payout, Refund
from payments.services.disputes import EVIDENCE_TEXT_FIELDS


def _token() -> str:
    return secrets.token_urlsafe(24)


def _back(request: HttpRequest, url: str, error: services.BackofficeActionError | None, done: str) -> HttpResponse:
    if error is not None:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return HttpResponseRedirect(url)


def _post_action(request: HttpRequest, url: str, action: Callable[[], object], done: str) -> HttpResponse:
    """Runs one back-office service on POST (a GET only goes back) and reports its outcome as a message."""
    error = None
    if request.method == "POST":
        try:
            action()
        except services.BackofficeActionError as exc:
            error = exc
    return _back(request, url, error, done)


def payment_timeline(payment: Payment) -> list[dict[str, Any]]:
    """Every state change, event, ledger transaction and back-office action of a payment and its refunds and
    disputes, oldest first: five queries whatever the history's length."""
    related = [
        payment.id,
        *payment.refunds.values_list("id", flat=True),
        *payment.disputes.values_list("id", flat=True),
    ]
    rows: list[tuple[datetime, str, str]] = []
    for change in payment.state_changes.all():
        rows.append(
            (change.created, "state", f"{change.from_status or '∅'} → {change.to_status} ({change.transition})")
        )
    events = OutboxMessage.objects.filter(kind=OutboxKind.EVENT, aggregate_id__in=related)
    for event in events.only("created", "topic", "aggregate_id"):
        rows.append((event.created, "event", f"{event.topic} ({event.aggregate_id})"))
    for txn in JournalTransaction.objects.filter(source_id__in=related).only("posted_at", "reference", "description"):
        rows.append((txn.posted_at, "ledger", f"{txn.reference}: {txn.description}"))
    for entry in AuditLogEntry.objects.filter(object_type="payment", object_id=payment.id):
        rows.append((entry.created, "audit", f"{entry.username}: {entry.action} — {entry.reason} ({entry.outcome})"))
    return [{"at": at, "kind": kind, "text": text} for at, kind, text in sorted(rows, key=lambda row: row[0])]


class RefundInline(TabularInline[Refund, Payment]):
    model = Refund
    fields = ("id", "amount", "status", "reason", "failure_reason", "requested_by", "created")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.unregister(Payment)


@admin.register(Payment)
class SupportPaymentAdmin(PaymentAdmin):
    """The payment page: status, amounts, attempts, timeline, and the refund / capture / cancel / resolve forms."""

    change_form_template = "admin/payments/payment/support_change_form.html"
    inlines = [*PaymentAdmin.inlines, RefundInline]

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("<str:object_id>/refund/", self.admin_site.admin_view(self.refund_view), name="payment_refund"),
            path("<str:object_id>/capture/", self.admin_site.admin_view(self.capture_view), name="payment_capture"),
            path("<str:object_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="payment_cancel"),
            path(
                "<str:object_id>/resolve_attempt/",
                self.admin_site.admin_view(self.resolve_attempt_view),
                name="payment_resolve_attempt",
            ),
        ]
        return own + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        payment = Payment.objects.filter(pk=unquote(object_id)).first()
        context = dict(extra_context or {})
        if payment is not None:
            user = request.user
            context.update(
                timeline=payment_timeline(payment),
                refundable=payment.amount_captured - payment.amount_refunded,
                refund_reasons=RefundReason.choices,
                refund_limit=services.refund_limit_for(user),
                can_refund=user.has_perm("backoffice.refund_payment") and payment.status == PaymentStatus.SUCCEEDED,
                can_capture=user.has_perm("backoffice.capture_payment")
                and payment.status == PaymentStatus.REQUIRES_CAPTURE,
                can_cancel=user.has_perm("backoffice.cancel_payment")
                and payment.status
                in (PaymentStatus.REQUIRES_CONFIRMATION, PaymentStatus.REQUIRES_ACTION, PaymentStatus.REQUIRES_CAPTURE),
                attempts_to_resolve=list(payment.attempts.exclude(review_reason=""))
                + list(payment.attempts.filter(outcome="unknown", review_reason="")),
                can_resolve=user.has_perm("backoffice.resolve_attempt"),
                form_token=_token(),
            )
        return super().change_view(request, object_id, form_url, context)

    def _payment(self, request: HttpRequest, object_id: str) -> tuple[Payment, str]:
        if not self.has_view_permission(request):
            raise PermissionError
        payment = get_object_or_404(Payment.objects.select_related("merchant"), pk=unquote(object_id))
        return payment, reverse("admin:payments_payment_change", args=[quote(payment.pk)])

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        payment, url = self._payment(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(url)
        raw_amount = request.POST.get("amount", "").strip()
        error = None
        try:
            amount = int(raw_amount) if raw_amount else None
            refund = services.backoffice_refund(
                user=request.user,
                payment=payment,
                amount=amount,
                reason=request.POST.get("reason", ""),
                note=request.POST.get("note", ""),
                form_token=request.POST.get("form_token"),
            )
            done = f"Refund {refund.id} of {refund.amount} {refund.currency} created; the provider is being asked."
        except ValueError:
            error, done = services.BackofficeActionError("The amount must be a whole number of minor units."), ""
        except services.BackofficeActionError as exc:
            error, done = exc, ""
        return _back(request, url, error, done)

    def capture_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        payment, url = self._payment(request, object_id)
        note, form_token = request.POST.get("note", ""), request.POST.get("form_token")
        return _post_action(
            request,
            url,
            lambda: services.backoffice_capture(user=request.user, payment=payment, note=note, form_token=form_token),
            "Capture requested.",
        )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        payment, url = self._payment(request, object_id)
        note, form_token = request.POST.get("note", ""), request.POST.get("form_token")
        return _post_action(
            request,
            url,
            lambda: services.backoffice_cancel(user=request.user, payment=payment, note=note, form_token=form_token),
            "Payment canceled.",
        )

    def resolve_attempt_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        payment, url = self._payment(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(url)
        attempt = get_object_or_404(PaymentAttempt, pk=request.POST.get("attempt", ""), payment=payment)
        return _post_action(
            request,
            url,
            lambda: services.backoffice_attempt_resolve(
                user=request.user,
                attempt_id=attempt.id,
                check_now=request.POST.get("resolution") == "check_now",
                reason=request.POST.get("reason", ""),
            ),
            "Done; the attempt's history shows the result.",
        )


def _overdue(dispute: Dispute) -> bool:
    return (
        dispute.status == DisputeStatus.NEEDS_RESPONSE
        and dispute.evidence_due_by is not None
        and dispute.evidence_due_by < timezone.now()
    )


@admin.register(Dispute)
class DisputeAdmin(ModelAdmin[Dispute]):
    """The disputes queue, soonest evidence deadline first; overdue ones in red."""

    list_display = ("id", "payment", "merchant", "amount", "currency", "reason", "status", "due")
    list_filter = ("status",)
    search_fields = ("=id", "=payment__id", "=provider_reference")
    ordering = ("evidence_due_by", "id")
    list_select_related = ("merchant",)
    change_form_template = "admin/payments/dispute/support_change_form.html"

    @admin.display(description="evidence due by", ordering="evidence_due_by")
    def due(self, obj: Dispute) -> str:
        if obj.evidence_due_by is None:
            return "—"
        when = f"{obj.evidence_due_by:%Y-%m-%d %H:%M}"
        if _overdue(obj):
            return format_html('<strong class="overdue" style="color:#ba2121">{} (overdue)</strong>', when)
        return when

    def get_readonly_fields(self, request: HttpRequest, obj: Dispute | None = None) -> list[str]:
        return [field.name for field in Dispute._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Dispute | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Dispute | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("<str:object_id>/respond/", self.admin_site.admin_view(self.respond_view), name="dispute_respond"),
            path("<str:object_id>/accept/", self.admin_site.admin_view(self.accept_view), name="dispute_accept"),
        ]
        return own + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        dispute = Dispute.objects.filter(pk=unquote(object_id)).first()
        context = dict(extra_context or {})
        if dispute is not None:
            context.update(
                can_handle=request.user.has_perm("backoffice.handle_dispute")
                and dispute.status == DisputeStatus.NEEDS_RESPONSE,
                evidence_fields=[(name, dispute.evidence.get(name, "")) for name in EVIDENCE_TEXT_FIELDS],
                files=list(dispute.files.all()),
                overdue=_overdue(dispute),
                form_token=_token(),
            )
        return super().change_view(request, object_id, form_url, context)

    def _dispute(self, request: HttpRequest, object_id: str) -> tuple[Dispute, str]:
        dispute = get_object_or_404(Dispute.objects.select_related("merchant"), pk=unquote(object_id))
        return dispute, reverse("admin:payments_dispute_change", args=[quote(dispute.pk)])

    def respond_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        dispute, url = self._dispute(request, object_id)
        evidence = {name: request.POST[name] for name in EVIDENCE_TEXT_FIELDS if request.POST.get(name)}
        return _post_action(
            request,
            url,
            lambda: services.backoffice_dispute_update(
                user=request.user,
                dispute=dispute,
                evidence=evidence,
                upload=request.FILES.get("file"),
                submit=request.POST.get("submit_evidence") == "on",
                form_token=request.POST.get("form_token"),
            ),
            "Evidence saved.",
        )

    def accept_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        dispute, url = self._dispute(request, object_id)
        note, form_token = request.POST.get("note", ""), request.POST.get("form_token")
        return _post_action(
            request,
            url,
            lambda: services.backoffice_dispute_accept(
                user=request.user, dispute=dispute, note=note, form_token=form_token
            ),
            "Dispute accepted.",
        )


class _ReadOnly(ModelAdmin[Any]):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Refund)
class RefundAdmin(_ReadOnly):
    list_display = ("id", "payment", "merchant", "amount", "currency", "status", "requested_by", "created")
    list_filter = ("status",)
    search_fields = ("=id", "=payment__id")


@admin.register(Payout)
class PayoutAdmin(_ReadOnly):
    list_display = ("id", "merchant", "amount", "currency", "status", "arrival_date", "created")
    list_filter = ("status",)
    search_fields = ("=id", "=merchant__id")
    actions = ["mark_returned"]

    @admin.action(description="Mark as failed / returned by the bank (re-credits the balance)")
    def mark_returned(self, request: HttpRequest, queryset: QuerySet[Payout]) -> None:
        for payout in queryset:
            try:
                services.backoffice_payout_fail(user=request.user, payout=payout)
            except services.BackofficeActionError as exc:
                self.message_user(request, f"{payout.id}: {exc}", level=messages.ERROR)
        self.message_user(request, f"{len(queryset)} payout(s) marked failed.")


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(_ReadOnly):
    """Nobody edits or deletes the audit log, superusers included."""

    list_display = ("created", "username", "action", "object_type", "object_id", "reason", "outcome")
    list_filter = ("action", "object_type")
    search_fields = ("=object_id", "username")
    actions = None
