"""The payments list and the payment page as support sees them.

The list shows what support asks first (status, amount, method, customer, merchant, when, connector) and fits a
laptop screen. The page puts status, amounts, the actions that apply and the timeline first, every related object
one click away, and folds the raw fields away below. Every action posts to a view here that asks for a
confirmation stating the amount in the currency's units and in minor units, then calls ``backoffice.services``
(the API's own services, audited).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from backoffice import selectors, services
from backoffice.filters import AutocompleteSelectFilter, ChoicesDropdownFilter, RangeDateTimeFilter, connector_filter
from backoffice.payment_page import payment_related, payment_timeline
from backoffice.presentation import both_forms, id_cell, money, object_link, payment_method, status_badge
from core.amounts import AmountFormatError, amount_display, amount_parse
from payments.admin import PaymentAdmin
from payments.enums import PaymentStatus, RefundReason
from payments.models import Payment, PaymentAttempt
from payments.selectors import refund_total_by_requester

CONFIRM_TEMPLATE = "admin/backoffice/confirm.html"
CANCELABLE = (PaymentStatus.REQUIRES_CONFIRMATION, PaymentStatus.REQUIRES_ACTION, PaymentStatus.REQUIRES_CAPTURE)


def form_token() -> str:
    return secrets.token_urlsafe(24)


def report(request: HttpRequest, url: str, error: services.BackofficeActionError | None, done: str) -> HttpResponse:
    if error is not None:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return HttpResponseRedirect(url)


def run_action(request: HttpRequest, url: str, action: Callable[[], object], done: str) -> HttpResponse:
    """Runs one back-office service on POST (a GET only goes back) and reports its outcome as a message."""
    error = None
    if request.method == "POST":
        try:
            action()
        except services.BackofficeActionError as exc:
            error = exc
    return report(request, url, error, done)


def confirmation(
    request: HttpRequest,
    admin_site: admin.AdminSite,
    *,
    title: str,
    facts: list[tuple[str, str]],
    action_url: str,
    back_url: str,
    submit: str,
    danger: bool = False,
) -> TemplateResponse:
    """The page between a money action's form and the action: what will happen, in both units; Confirm re-posts
    the same fields (and the same one-time form token) with ``confirm=yes``."""
    fields = [
        (key, value)
        for key, values in request.POST.lists()
        if key not in ("csrfmiddlewaretoken", "confirm")
        for value in values
    ]
    context = {
        **admin_site.each_context(request),
        "title": title,
        "facts": facts,
        "fields": fields,
        "action_url": action_url,
        "back_url": back_url,
        "submit": submit,
        "danger": danger,
    }
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)


def confirmed_action(
    request: HttpRequest,
    admin_site: admin.AdminSite,
    *,
    url: str,
    action_url: str,
    title: str,
    facts: list[tuple[str, str]],
    submit: str,
    run: Callable[[str, str | None], object],
    done: str,
    danger: bool = False,
) -> HttpResponse:
    """A money action with a note for the audit log: asks for the confirmation first, then runs ``run(note,
    form_token)`` and reports its outcome on the object's page."""
    note, token = request.POST.get("note", ""), request.POST.get("form_token")
    if request.method == "POST" and request.POST.get("confirm") != "yes":
        facts = [*facts, ("Note for the audit log", note or "—")]
        return confirmation(
            request,
            admin_site,
            title=title,
            facts=facts,
            action_url=action_url,
            back_url=url,
            submit=submit,
            danger=danger,
        )
    return run_action(request, url, lambda: run(note, token), done)


admin.site.unregister(Payment)


@admin.register(Payment)
class SupportPaymentAdmin(PaymentAdmin):
    list_display = (
        "payment_id",
        "status_badge",
        "amount_shown",
        "method",
        "customer",
        "merchant_name",
        "connector",
    )
    list_display_links = ("payment_id",)
    list_filter = (  # type: ignore[assignment]  # unfold's filters are (field, class) pairs, not names
        ("status", ChoicesDropdownFilter),
        ("payment_method_type", ChoicesDropdownFilter),
        connector_filter("psp"),
        ("merchant", AutocompleteSelectFilter),
        ("created", RangeDateTimeFilter),
        "livemode",
    )
    list_filter_submit = True
    list_fullwidth = True
    list_per_page = 50
    change_form_template = "admin/payments/payment/support_change_form.html"
    inlines = []  # the page lists every related object itself, above the raw fields

    # --- the list ---------------------------------------------------------------------------------------------
    @admin.display(description="payment · created", ordering="id")  # ids are time-ordered: by id is by creation
    def payment_id(self, obj: Payment) -> SafeString:
        created = f"{timezone.localtime(obj.created):%d %b %Y %H:%M}"
        return id_cell(obj.id, created if obj.livemode else f"{created} · test")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Payment) -> SafeString:
        return status_badge("payment", obj.status)

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, obj: Payment) -> SafeString:
        return money(obj.amount, obj.currency)

    @admin.display(description="method")
    def method(self, obj: Payment) -> SafeString:
        return format_html('<span class="ll-nowrap">{}</span>', self.method_text(obj))

    def method_text(self, obj: Payment) -> str:
        return payment_method(
            obj.payment_method_type,
            brand=obj.card_brand,
            last4=obj.card_last4,
            vpa=obj.upi_vpa,
            upi_flow=obj.upi_flow,
        )

    @admin.display(description="customer", ordering="customer_email")
    def customer(self, obj: Payment) -> SafeString:
        if not obj.customer_email:
            return SafeString("—")
        return _truncated(obj.customer_email)

    @admin.display(description="merchant", ordering="merchant__name")
    def merchant_name(self, obj: Payment) -> SafeString:
        return _truncated(obj.merchant.name, small=True)

    @admin.display(description="connector", ordering="psp")
    def connector(self, obj: Payment) -> str:
        return obj.psp or "—"

    # --- the page ---------------------------------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        own = [
            path("<str:object_id>/refund/", view(self.refund_view), name="payment_refund"),
            path("<str:object_id>/capture/", view(self.capture_view), name="payment_capture"),
            path("<str:object_id>/cancel/", view(self.cancel_view), name="payment_cancel"),
            path("<str:object_id>/resolve_attempt/", view(self.resolve_attempt_view), name="payment_resolve_attempt"),
        ]
        inherited: list[URLPattern] = super().get_urls()
        return own + inherited

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        payment = Payment.objects.select_related("merchant").filter(pk=unquote(object_id)).first()
        context = dict(extra_context or {})
        if payment is not None and self.has_view_permission(request, payment):
            context.update(self.page_context(request, payment))
        response: HttpResponse = super().change_view(request, object_id, form_url, context)
        return response

    def page_context(self, request: HttpRequest, payment: Payment) -> dict[str, Any]:
        user = request.user
        related = payment_related(payment)
        refundable = payment.amount_captured - payment.amount_refunded
        blocking = selectors.dispute_blocking_refunds(payment_id=payment.id)
        limit = services.refund_limit_for(user)
        limit_left = None
        if limit is not None:
            used = refund_total_by_requester(payment_id=payment.id, requested_by_prefix=limit.requested_by_prefix)
            limit_left = max(0, limit.amount - used)
        # A late success (money taken after the payment failed on our side) is refundable too: that is how Support
        # sees its automatic refund through when the provider failed it.
        captured = payment.status == PaymentStatus.SUCCEEDED or payment.late_succeeded_at is not None
        refund_applies = captured and refundable > 0 and blocking is None
        return {
            "payment": payment,
            "status": status_badge("payment", payment.status),
            "method": self.method_text(payment),
            "merchant_link": object_link(payment.merchant, payment.merchant.name),
            "related": related,
            "timeline": payment_timeline(payment, related),
            "refundable": refundable,
            "refund_blocked_by": blocking,
            "refund_limit": limit,
            "refund_limit_left": limit_left,
            "refund_reasons": RefundReason.choices,
            "can_refund": user.has_perm("backoffice.refund_payment") and refund_applies,
            "can_capture": user.has_perm("backoffice.capture_payment")
            and payment.status == PaymentStatus.REQUIRES_CAPTURE,
            "can_cancel": user.has_perm("backoffice.cancel_payment") and payment.status in CANCELABLE,
            "attempts_to_resolve": [a for a in related.attempts if a.review_reason or a.outcome == "unknown"],
            "can_resolve": user.has_perm("backoffice.resolve_attempt"),
            "form_token": form_token(),
            "customer_payments_url": (
                reverse("admin:payments_payment_changelist") + f"?customer_email={quote(payment.customer_email)}"
                if payment.customer_email
                else None
            ),
        }

    def _payment(self, request: HttpRequest, object_id: str, permission: str) -> tuple[Payment, str]:
        """The payment an action posts to, for someone allowed to take that action (else 403, not a message)."""
        if not self.has_view_permission(request) or not request.user.has_perm(permission):
            raise PermissionDenied
        payment = get_object_or_404(Payment.objects.select_related("merchant"), pk=unquote(object_id))
        return payment, reverse("admin:payments_payment_change", args=[quote(payment.pk)])

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        payment, url = self._payment(request, object_id, "backoffice.refund_payment")
        if request.method != "POST":
            return HttpResponseRedirect(url)
        typed = request.POST.get("amount", "").strip()
        try:
            amount = amount_parse(typed, payment.currency) if typed else None
        except AmountFormatError as exc:
            return report(request, url, services.BackofficeActionError(str(exc)), "")
        if request.POST.get("confirm") != "yes":
            return self.refund_confirmation(request, payment, amount, url)
        try:
            refund = services.backoffice_refund(
                user=request.user,
                payment=payment,
                amount=amount,
                reason=request.POST.get("reason", ""),
                note=request.POST.get("note", ""),
                form_token=request.POST.get("form_token"),
            )
        except services.BackofficeActionError as exc:
            return report(request, url, exc, "")
        shown = both_forms(refund.amount, refund.currency)
        return report(request, url, None, f"Refund {refund.id} of {shown} created; the provider is being asked.")

    def refund_confirmation(self, request: HttpRequest, payment: Payment, amount: int | None, url: str) -> HttpResponse:
        refundable = selectors.payment_refundable(payment_id=payment.id)
        amount = refundable if amount is None else amount
        if amount <= 0 or amount > refundable:
            shown = amount_display(amount, payment.currency)
            left = amount_display(refundable, payment.currency)
            return report(request, url, services.BackofficeActionError(f"{shown} is more than the {left} left."), "")
        reason = dict(RefundReason.choices).get(request.POST.get("reason", ""), "—")
        return confirmation(
            request,
            self.admin_site,
            title=f"Refund {amount_display(amount, payment.currency)} of {payment.id}?",
            facts=[
                ("Refund", both_forms(amount, payment.currency)),
                ("Refundable now", amount_display(refundable, payment.currency)),
                ("Refundable after this refund", amount_display(refundable - amount, payment.currency)),
                ("To", self.method_text(payment)),
                ("Reason", str(reason)),
                ("Note for the audit log", request.POST.get("note", "") or "— (required)"),
            ],
            action_url=reverse("admin:payment_refund", args=[quote(payment.pk)]),
            back_url=url,
            submit=f"Refund {amount_display(amount, payment.currency)}",
        )

    def capture_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        payment, url = self._payment(request, object_id, "backoffice.capture_payment")
        return confirmed_action(
            request,
            self.admin_site,
            url=url,
            action_url=reverse("admin:payment_capture", args=[quote(payment.pk)]),
            title=f"Capture {amount_display(payment.amount, payment.currency)} of {payment.id}?",
            facts=[("Capture", both_forms(payment.amount, payment.currency)), ("From", self.method_text(payment))],
            submit=f"Capture {amount_display(payment.amount, payment.currency)}",
            run=lambda note, token: services.backoffice_capture(
                user=request.user, payment=payment, note=note, form_token=token
            ),
            done="Capture requested.",
        )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        payment, url = self._payment(request, object_id, "backoffice.cancel_payment")
        return confirmed_action(
            request,
            self.admin_site,
            url=url,
            action_url=reverse("admin:payment_cancel", args=[quote(payment.pk)]),
            title=f"Cancel {payment.id}?",
            facts=[
                ("Authorization released", both_forms(payment.amount, payment.currency)),
                ("Charged to the customer", amount_display(0, payment.currency)),
            ],
            submit="Cancel the payment",
            run=lambda note, token: services.backoffice_cancel(
                user=request.user, payment=payment, note=note, form_token=token
            ),
            done="Payment canceled.",
            danger=True,
        )

    def resolve_attempt_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        payment, url = self._payment(request, object_id, "backoffice.resolve_attempt")
        if request.method != "POST":
            return HttpResponseRedirect(url)
        attempt = get_object_or_404(PaymentAttempt, pk=request.POST.get("attempt", ""), payment=payment)
        return run_action(
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


def _truncated(text: str, *, small: bool = False) -> SafeString:
    css = "ll-truncate-sm" if small else "ll-truncate"
    return format_html('<span class="{}" title="{}">{}</span>', css, text, text)
