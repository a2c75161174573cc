"""The support and finance back office: refunds, the disputes queue, payouts, the audit log.

The payments list and the payment page live in ``backoffice.payment_admin``; users and groups in
``backoffice.auth_admin``. Every button posts to a view that calls ``backoffice.services`` (the API's own services,
audited); money is shown in the currency's units everywhere.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from backoffice import (  # noqa: F401 (auth_admin, customer_admin, report_admin: imported for their registrations)
    auth_admin,
    customer_admin,
    payment_admin,
    report_admin,
    services,
)
from backoffice.filters import (
    AutocompleteSelectFilter,
    ChoicesDropdownFilter,
    InDoubtFilter,
    RangeDateTimeFilter,
    connector_filter,
)
from backoffice.models import AuditLogEntry
from backoffice.payment_admin import confirmation, confirmed_action, form_token, run_action
from backoffice.presentation import both_forms, deadline, id_cell, money, object_link, status_badge
from core.admin_base import ModelAdmin
from core.amounts import amount_display
from payments.admin import NeedsReviewFilter, PaymentAttemptAdmin
from payments.enums import DisputeStatus
from payments.models import Dispute, PaymentAttempt, Payout, Refund
from payments.services.disputes import EVIDENCE_TEXT_FIELDS


def _overdue(dispute: Dispute) -> bool:
    return (
        dispute.status == DisputeStatus.NEEDS_RESPONSE
        and dispute.evidence_due_by is not None
        and dispute.evidence_due_by < timezone.now()
    )


class _ReadOnly(ModelAdmin[Any]):
    list_fullwidth = True
    list_filter_submit = True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [field.name for field in self.model._meta.fields]
        # An object that carries money shows it first in the currency's units; the stored fields follow.
        return ["amount_shown", *fields] if "amount" in fields and "currency" in fields else fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, obj: Any) -> SafeString:
        return money(obj.amount, obj.currency)

    @admin.display(description="merchant", ordering="merchant__name")
    def merchant_name(self, obj: Any) -> str:
        return str(obj.merchant.name)

    @admin.display(description="payment", ordering="payment")
    def payment_link(self, obj: Any) -> SafeString:
        return object_link(obj.payment)


@admin.register(Dispute)
class DisputeAdmin(_ReadOnly):
    """The disputes queue, soonest evidence deadline first: overdue ones red, near ones orange, days left shown."""

    list_display = ("dispute", "status_badge", "amount_shown", "due", "payment_link", "merchant_name", "connector")
    list_display_links = ("dispute",)
    list_filter = (
        ("status", ChoicesDropdownFilter),
        connector_filter("connector"),
        ("merchant", AutocompleteSelectFilter),
        ("evidence_due_by", RangeDateTimeFilter),
        ("created", RangeDateTimeFilter),
    )
    search_fields = ("=id", "=payment__id", "=provider_reference")
    ordering = ("evidence_due_by", "id")
    list_select_related = ("merchant", "payment")
    change_form_template = "admin/payments/dispute/support_change_form.html"

    @admin.display(description="dispute · reason", ordering="id")
    def dispute(self, obj: Dispute) -> SafeString:
        return id_cell(obj.id, obj.reason)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Dispute) -> SafeString:
        return status_badge("dispute", obj.status)

    @admin.display(description="evidence due", ordering="evidence_due_by")
    def due(self, obj: Dispute) -> SafeString:
        return deadline(obj.evidence_due_by, open_=obj.status == DisputeStatus.NEEDS_RESPONSE)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("<str:object_id>/respond/", self.admin_site.admin_view(self.respond_view), name="dispute_respond"),
            path("<str:object_id>/accept/", self.admin_site.admin_view(self.accept_view), name="dispute_accept"),
        ]
        inherited: list[URLPattern] = super().get_urls()
        return own + inherited

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        dispute = Dispute.objects.select_related("payment").filter(pk=unquote(object_id)).first()
        context = dict(extra_context or {})
        if dispute is not None:
            context.update(
                dispute=dispute,
                status=status_badge("dispute", dispute.status),
                deadline=deadline(dispute.evidence_due_by, open_=dispute.status == DisputeStatus.NEEDS_RESPONSE),
                payment_link=object_link(dispute.payment),
                can_handle=request.user.has_perm("backoffice.handle_dispute")
                and dispute.status == DisputeStatus.NEEDS_RESPONSE,
                evidence_fields=[(name, dispute.evidence.get(name, "")) for name in EVIDENCE_TEXT_FIELDS],
                files=list(dispute.files.all()),
                overdue=_overdue(dispute),
                form_token=form_token(),
            )
        response: HttpResponse = super().change_view(request, object_id, form_url, context)
        return response

    def _dispute(self, request: HttpRequest, object_id: str) -> tuple[Dispute, str]:
        if not request.user.has_perm("backoffice.handle_dispute"):
            raise PermissionDenied
        dispute = get_object_or_404(Dispute.objects.select_related("merchant"), pk=unquote(object_id))
        return dispute, reverse("admin:payments_dispute_change", args=[quote(dispute.pk)])

    def respond_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        dispute, url = self._dispute(request, object_id)
        evidence = {name: request.POST[name] for name in EVIDENCE_TEXT_FIELDS if request.POST.get(name)}
        return run_action(
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
        return confirmed_action(
            request,
            self.admin_site,
            url=url,
            action_url=reverse("admin:dispute_accept", args=[quote(dispute.pk)]),
            title=f"Accept dispute {dispute.id}?",
            facts=[
                ("The chargeback stands", both_forms(dispute.amount, dispute.currency)),
                ("Dispute fee", amount_display(dispute.fee, dispute.currency)),
                ("The merchant does not get back", amount_display(dispute.amount + dispute.fee, dispute.currency)),
            ],
            submit="Accept the dispute",
            run=lambda note, token: services.backoffice_dispute_accept(
                user=request.user, dispute=dispute, note=note, form_token=token
            ),
            done="Dispute accepted.",
            danger=True,
        )


@admin.register(Refund)
class RefundAdmin(_ReadOnly):
    list_display = (
        "id",
        "status_badge",
        "amount_shown",
        "payment_link",
        "merchant_name",
        "reason",
        "requested_by",
        "created",
    )
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("reason", ChoicesDropdownFilter),
        ("merchant", AutocompleteSelectFilter),
        ("created", RangeDateTimeFilter),
    )
    list_select_related = ("merchant", "payment")
    search_fields = ("=id", "=payment__id")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Refund) -> SafeString:
        return status_badge("refund", obj.status)


@admin.register(Payout)
class PayoutAdmin(_ReadOnly):
    list_display = ("id", "status_badge", "amount_shown", "merchant_name", "arrival_date", "created", "failure_code")
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("merchant", AutocompleteSelectFilter),
        ("created", RangeDateTimeFilter),
    )
    list_select_related = ("merchant",)
    search_fields = ("=id", "=merchant__id")
    actions = ["mark_returned"]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Payout) -> SafeString:
        return status_badge("payout", obj.status)

    @admin.action(description="Mark as failed / returned by the bank (re-credits the balance)")
    def mark_returned(self, request: HttpRequest, queryset: QuerySet[Payout]) -> HttpResponse | None:
        payouts = list(queryset.order_by("id"))
        if request.POST.get("confirm") != "yes":
            return confirmation(
                request,
                self.admin_site,
                title=f"Mark {len(payouts)} payout(s) returned by the bank?",
                facts=[
                    (payout.id, f"{both_forms(payout.amount, payout.currency)} back to {payout.merchant.name}")
                    for payout in payouts
                ],
                action_url=reverse("admin:payments_payout_changelist"),
                back_url=reverse("admin:payments_payout_changelist"),
                submit="Mark returned and re-credit",
                danger=True,
            )
        for payout in payouts:
            try:
                services.backoffice_payout_fail(user=request.user, payout=payout)
            except services.BackofficeActionError as exc:
                self.message_user(request, f"{payout.id}: {exc}", level=messages.ERROR)
            else:
                shown = amount_display(payout.amount, payout.currency)
                self.message_user(request, f"{payout.id} marked failed: {shown} re-credited.")
        return None


admin.site.unregister(PaymentAttempt)


@admin.register(PaymentAttempt)
class SupportAttemptAdmin(PaymentAttemptAdmin):
    """Every provider call; "in doubt" is the queue support works: flagged for a person, or outcome unknown."""

    list_display = (
        "attempt",
        "outcome_badge",
        "amount_shown",
        "payment_link",
        "connector",
        "provider_reference",
        "checks",
        "review_reason",
    )
    list_display_links = ("attempt",)
    list_filter = (  # type: ignore[assignment]  # unfold's filters are (field, class) pairs, not names
        InDoubtFilter,
        NeedsReviewFilter,
        ("outcome", ChoicesDropdownFilter),
        ("operation", ChoicesDropdownFilter),
        connector_filter("connector"),
        ("created", RangeDateTimeFilter),
    )
    list_select_related = ("payment",)
    list_fullwidth = True
    list_filter_submit = True

    @admin.display(description="attempt · operation", ordering="id")
    def attempt(self, obj: PaymentAttempt) -> SafeString:
        return id_cell(obj.id, obj.operation)

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj: PaymentAttempt) -> SafeString:
        return status_badge("attempt", obj.outcome)

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, obj: PaymentAttempt) -> SafeString:
        return money(obj.amount, obj.payment.currency)

    @admin.display(description="payment", ordering="payment")
    def payment_link(self, obj: PaymentAttempt) -> SafeString:
        return object_link(obj.payment)


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(_ReadOnly):
    """Nobody edits or deletes the audit log, superusers included."""

    list_display = ("created", "username", "action", "object_type", "object_id", "reason", "outcome")
    list_filter = ("action", "object_type", ("created", RangeDateTimeFilter))
    search_fields = ("=object_id", "username")
    actions = None
