"""A merchant's customer as support sees it: its saved payment methods and its payments, and the one action support
takes on a customer's card: detach it (the API's own detach, confirmed, with a note for the audit log).

Customers are the merchants' records, made through the API: nobody adds, edits or deletes one here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.safestring import SafeString

from backoffice import selectors, services
from backoffice.filters import AutocompleteSelectFilter, RangeDateTimeFilter
from backoffice.payment_admin import confirmed_action, form_token
from backoffice.presentation import id_cell, object_link, payment_method
from core.admin_base import ModelAdmin
from payments.enums import PaymentMethodType
from payments.models import Customer, PaymentMethod

PAYMENTS_SHOWN = 20
DETACH_PERMISSION = "backoffice.detach_payment_method"


def method_text(method: PaymentMethod) -> str:
    if method.type == PaymentMethodType.CARD:
        return payment_method(method.type, brand=method.card_brand, last4=method.card_last4)
    return payment_method(method.type, vpa=method.upi_vpa)


def expiry(method: PaymentMethod) -> str:
    if method.card_exp_month is None or method.card_exp_year is None:
        return "—"
    return f"{method.card_exp_month:02d}/{method.card_exp_year}"


@admin.register(Customer)
class SupportCustomerAdmin(ModelAdmin[Customer]):
    list_display = ("customer", "email", "name", "merchant_name", "livemode", "created")
    list_display_links = ("customer",)
    list_filter = (("merchant", AutocompleteSelectFilter), ("created", RangeDateTimeFilter), "livemode")
    list_filter_submit = True
    list_fullwidth = True
    list_select_related = ("merchant",)
    search_fields = ("=id", "email")
    change_form_template = "admin/payments/customer/support_change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Customer._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="customer", ordering="id")
    def customer(self, obj: Customer) -> SafeString:
        return id_cell(obj.id, "deleted" if obj.deleted_at else "")

    @admin.display(description="merchant", ordering="merchant__name")
    def merchant_name(self, obj: Customer) -> str:
        return str(obj.merchant.name)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<str:object_id>/detach/",
                self.admin_site.admin_view(self.detach_view),
                name="customer_detach_payment_method",
            )
        ]
        inherited: list[URLPattern] = super().get_urls()
        return own + inherited

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        customer = Customer.objects.select_related("merchant").filter(pk=unquote(object_id)).first()
        context = dict(extra_context or {})
        if customer is not None and self.has_view_permission(request, customer):
            context.update(self.page_context(request, customer))
        response: HttpResponse = super().change_view(request, object_id, form_url, context)
        return response

    def page_context(self, request: HttpRequest, customer: Customer) -> dict[str, Any]:
        payments, payment_count = selectors.customer_payments(customer=customer, limit=PAYMENTS_SHOWN)
        can_detach = request.user.has_perm(DETACH_PERMISSION)
        methods = [
            {
                "method": method,
                "text": method_text(method),
                "expiry": expiry(method),
                "saved": method.customer_id == customer.id,
                "can_detach": can_detach and method.customer_id == customer.id and method.detached_at is None,
            }
            for method in selectors.customer_payment_methods(customer=customer)
        ]
        return {
            "customer": customer,
            "merchant_link": object_link(customer.merchant, customer.merchant.name),
            "methods": methods,
            "payments": payments,
            "payment_count": payment_count,
            "payments_url": reverse("admin:payments_payment_changelist") + f"?customer__id__exact={quote(customer.pk)}",
            "form_token": form_token(),
        }

    def detach_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_view_permission(request) or not request.user.has_perm(DETACH_PERMISSION):
            raise PermissionDenied
        customer = get_object_or_404(Customer, pk=unquote(object_id))
        url = reverse("admin:payments_customer_change", args=[quote(customer.pk)])
        if request.method != "POST":
            return HttpResponseRedirect(url)
        # Only a card saved to this customer: the form names it, the page offered it.
        method = get_object_or_404(
            PaymentMethod.objects.select_related("merchant"),
            pk=request.POST.get("payment_method", ""),
            customer=customer,
        )
        return confirmed_action(
            request,
            self.admin_site,
            url=url,
            action_url=reverse("admin:customer_detach_payment_method", args=[quote(customer.pk)]),
            title=f"Detach {method_text(method)} ({method.id}) from {customer.email or customer.id}?",
            facts=[
                ("Payment method", f"{method_text(method)}, expires {expiry(method)}"),
                ("After this", "it is never charged again, off-session charges included; the customer adds it anew"),
            ],
            submit="Detach the card" if method.type == PaymentMethodType.CARD else "Detach",
            run=lambda note, token: services.backoffice_payment_method_detach(
                user=request.user, method=method, note=note, form_token=token
            ),
            done=f"{method.id} detached: it will not be charged again.",
            danger=True,
        )
