"""The back office. Every change goes through the same services as the API; payments are read-only here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_base import ModelAdmin, TabularInline
from payments.enums import LateSuccessPolicy, WebhookDeliveryStatus
from payments.models import (
    ApiKey,
    CheckoutSession,
    Event,
    Merchant,
    MerchantPricing,
    Payment,
    PaymentAttempt,
    PaymentStateChange,
    ProviderEvent,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from payments.services.attempts.review import attempts_check_now, attempts_mark_reviewed
from payments.services.merchants import api_key_create, api_key_revoke, merchant_create
from payments.services.webhook_deliveries import webhook_delivery_resend, webhook_endpoint_resend_missed
from payments.services.webhook_endpoints import webhook_endpoint_disable, webhook_endpoint_enable


class _ReadOnlyInline(TabularInline[Any, Any]):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ApiKeyInline(_ReadOnlyInline):
    model = ApiKey
    fields = ("id", "name", "livemode", "redacted", "created", "last_used_at", "revoked_at")
    readonly_fields = fields


def _issue_key(request: HttpRequest, merchant: Merchant, *, livemode: bool) -> None:
    issued = api_key_create(merchant=merchant, livemode=livemode, name=f"admin:{request.user}")
    messages.warning(
        request, f"New secret key for {merchant.name}: {issued.secret} — copy it now, it will not be shown again."
    )


@admin.register(Merchant)
class MerchantAdmin(ModelAdmin[Merchant]):
    list_display = ("id", "name", "email", "upi_collect_enabled", "upi_late_success_policy", "created")
    search_fields = ("id", "name", "email")
    readonly_fields = ("id", "created")
    fields = ("id", "name", "email", "upi_collect_enabled", "upi_late_success_policy", "created")
    inlines = [ApiKeyInline]
    actions = ["create_test_key", "create_live_key"]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "upi_late_success_policy" and field is not None:
            field.required = False  # left empty: the default (refund)
        return field

    def save_model(self, request: HttpRequest, obj: Merchant, form: Any, change: bool) -> None:
        obj.upi_late_success_policy = obj.upi_late_success_policy or LateSuccessPolicy.REFUND
        if change:
            super().save_model(request, obj, form, change)
            return
        merchant, issued = merchant_create(
            name=obj.name, email=obj.email, upi_late_success_policy=obj.upi_late_success_policy
        )
        if obj.upi_collect_enabled:
            Merchant.objects.filter(pk=merchant.pk).update(upi_collect_enabled=True)
        obj.pk = merchant.pk
        messages.warning(request, f"Secret key: {issued.secret} — copy it now, it will not be shown again.")

    @admin.action(description="Create a test secret key (shown once)")
    def create_test_key(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        for merchant in queryset:
            _issue_key(request, merchant, livemode=False)

    @admin.action(description="Create a live secret key (shown once)")
    def create_live_key(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        for merchant in queryset:
            _issue_key(request, merchant, livemode=True)


@admin.register(ApiKey)
class ApiKeyAdmin(ModelAdmin[ApiKey]):
    list_display = ("id", "merchant", "redacted", "livemode", "created", "last_used_at", "revoked_at")
    list_filter = ("livemode",)
    search_fields = ("id", "merchant__id", "merchant__name", "prefix")
    readonly_fields = ("id", "merchant", "prefix", "last4", "livemode", "created", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued from the merchant page, where the secret can be shown once

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


class PaymentAttemptInline(_ReadOnlyInline):
    model = PaymentAttempt
    fields = (
        "id",
        "operation",
        "amount",
        "connector",
        "outcome",
        "provider_reference",
        "idempotency_key",
        "failure_code",
        "created",
        "started_at",
        "finished_at",
        "locked_at",
        "next_check_at",
        "checks",
        "fee",
        "review_reason",
        "request_summary",
        "response_summary",
    )
    readonly_fields = fields


class PaymentStateChangeInline(_ReadOnlyInline):
    model = PaymentStateChange
    fields = ("created", "from_status", "to_status", "transition", "attempt", "request_id")
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(ModelAdmin[Payment]):
    list_display: tuple[str, ...] = (
        "id",
        "merchant",
        "livemode",
        "amount",
        "currency",
        "status",
        "card_last4",
        "customer_email",
    )
    list_filter = ("status", "livemode", "payment_method_type", "capture_method")
    list_select_related = ("merchant",)
    # Exact matches where an index serves them (id, last4, provider reference); email by substring.
    search_fields = ("=id", "=card_last4", "=attempts__provider_reference", "customer_email")
    search_help_text = "payment id, card last 4, provider reference, or customer email"
    show_full_result_count = False
    inlines = [PaymentAttemptInline, PaymentStateChangeInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Payment | None = None) -> list[str]:
        return [field.name for field in Payment._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Payment | None = None) -> bool:
        return False  # status changes go through services (API, executor), never through a form

    def has_delete_permission(self, request: HttpRequest, obj: Payment | None = None) -> bool:
        return False


# --- payment execution (issue 5) ------------------------------------------------------------------------------
class NeedsReviewFilter(admin.SimpleListFilter):
    title = "needs review"
    parameter_name = "needs_review"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Needs a person"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.exclude(review_reason="")
        if self.value() == "no":
            return queryset.filter(review_reason="")
        return queryset


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ModelAdmin[PaymentAttempt]):
    """Every provider call; the "needs review" filter is the queue of attempts a person must resolve."""

    list_display = ("id", "payment", "operation", "connector", "outcome", "amount", "checks", "review_reason")
    list_filter = (NeedsReviewFilter, "outcome", "operation", "connector")
    search_fields = ("=id", "=payment__id", "=provider_reference")
    show_full_result_count = False
    actions = ["check_now", "mark_reviewed"]

    def get_readonly_fields(self, request: HttpRequest, obj: PaymentAttempt | None = None) -> list[str]:
        return [field.name for field in PaymentAttempt._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PaymentAttempt | None = None) -> bool:
        return False

    @admin.action(description="Ask the provider now (status lookup by our reference)")
    def check_now(self, request: HttpRequest, queryset: QuerySet[PaymentAttempt]) -> None:
        count = attempts_check_now(attempt_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"Asked the provider about {count} attempt(s); results appear here shortly.")

    @admin.action(description="Mark as reviewed (clears the flag; the outcome is unchanged)")
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[PaymentAttempt]) -> None:
        count = attempts_mark_reviewed(attempt_ids=list(queryset.values_list("id", flat=True)), by=str(request.user))
        self.message_user(request, f"Marked {count} attempt(s) as reviewed.")


@admin.register(ProviderEvent)
class ProviderEventAdmin(ModelAdmin[ProviderEvent]):
    list_display = ("id", "connector", "event_id", "type", "deliveries", "received_at", "processed_at", "result")
    list_filter = ("connector", "type")
    search_fields = ("=event_id",)
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: ProviderEvent | None = None) -> list[str]:
        return [field.name for field in ProviderEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ProviderEvent | None = None) -> bool:
        return False


@admin.register(MerchantPricing)
class MerchantPricingAdmin(ModelAdmin[MerchantPricing]):
    """The platform's price per merchant and method; without a row, settings.PRICING_DEFAULTS applies."""

    list_display = ("merchant", "payment_method_type", "fee_bps", "fee_fixed")
    list_filter = ("payment_method_type",)
    autocomplete_fields = ("merchant",)


# --- Events and webhooks ---------------------------------------------------------------------------------------
# Read-only views of what happened; the only writes are actions calling the same services as the API and workers.


class _ReadOnlyAdmin(ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WebhookDeliveryInline(TabularInline[WebhookDelivery, Event]):
    model = WebhookDelivery
    fields = ("id", "endpoint", "status", "attempt_count", "last_attempt_at", "next_attempt_at", "succeeded_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False


class WebhookDeliveryAttemptInline(TabularInline[WebhookDeliveryAttempt, WebhookDelivery]):
    model = WebhookDeliveryAttempt
    fields = ("attempted_at", "status_code", "latency_ms", "succeeded", "error", "response_excerpt")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return False


@admin.action(description="Resend to every endpoint it was sent to")
def resend_event(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Event]) -> None:
    deliveries = WebhookDelivery.objects.filter(event__in=queryset)
    for delivery in deliveries:
        webhook_delivery_resend(delivery=delivery)
    modeladmin.message_user(request, f"{len(deliveries)} deliveries queued again.")


@admin.action(description="Resend")
def resend_delivery(modeladmin: Any, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
    for delivery in queryset:
        webhook_delivery_resend(delivery=delivery)
    modeladmin.message_user(request, f"{len(queryset)} deliveries queued again.")


@admin.register(Event)
class EventAdmin(_ReadOnlyAdmin):
    list_display = ("id", "type", "merchant", "livemode", "created")
    list_filter = ("type", "livemode")
    search_fields = ("id", "merchant__id", "type")
    readonly_fields = ("id", "merchant", "livemode", "type", "created", "outbox_id", "data")
    inlines = [WebhookDeliveryInline]
    actions = [resend_event]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnlyAdmin):
    list_display = ("id", "url", "merchant", "livemode", "format", "status", "consecutive_failures", "failing_since")
    list_filter = ("status", "livemode", "format")
    search_fields = ("id", "url", "merchant__id", "merchant__name")
    # The signing secrets are deliberately absent: nobody needs to read them here.
    readonly_fields = (
        "id",
        "merchant",
        "livemode",
        "url",
        "format",
        "enabled_events",
        "description",
        "metadata",
        "status",
        "disabled_reason",
        "disabled_at",
        "consecutive_failures",
        "failing_since",
        "created",
    )
    actions = ["enable", "resend_missed", "disable"]

    @admin.action(description="Enable (forget the failure streak)")
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        missed = 0
        for endpoint in queryset:
            webhook_endpoint_enable(endpoint=endpoint)
            missed += WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDeliveryStatus.FAILED).count()
        self.message_user(request, f"{len(queryset)} endpoints enabled.")
        if missed:
            self.message_user(
                request,
                f"{missed} events were not delivered (sent while disabled, or given up on): "
                "“Resend missed events” sends them now.",
                level=messages.WARNING,
            )

    @admin.action(description="Resend missed events (given up on, or emitted while disabled)")
    def resend_missed(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        sent = sum(webhook_endpoint_resend_missed(endpoint=endpoint) for endpoint in queryset)
        self.message_user(request, f"{sent} deliveries queued again.")

    @admin.action(description="Disable")
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_endpoint_disable(endpoint=endpoint, reason=f"disabled in the back office by {request.user}")
        self.message_user(request, f"{len(queryset)} endpoints disabled.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnlyAdmin):
    list_display = ("id", "event", "endpoint", "status", "attempt_count", "last_attempt_at", "next_attempt_at")
    list_filter = ("status",)
    search_fields = ("id", "event__id", "endpoint__id", "endpoint__url")
    list_select_related = ("event", "endpoint")
    readonly_fields = (
        "id",
        "event",
        "endpoint",
        "status",
        "attempt_count",
        "next_attempt_at",
        "in_flight_until",
        "last_attempt_at",
        "succeeded_at",
        "created",
    )
    inlines = [WebhookDeliveryAttemptInline]
    actions = [resend_delivery]


@admin.register(WebhookDeliveryAttempt)
class WebhookDeliveryAttemptAdmin(_ReadOnlyAdmin):
    list_display = ("id", "delivery", "attempted_at", "status_code", "latency_ms", "succeeded", "error")
    list_filter = ("succeeded",)
    search_fields = ("delivery__id", "delivery__event__id", "url")
    readonly_fields = (
        "delivery",
        "attempted_at",
        "url",
        "status_code",
        "latency_ms",
        "succeeded",
        "error",
        "response_excerpt",
    )


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(_ReadOnlyAdmin):
    """Hosted checkout pages, as support looks one up: its status, its latest payment, where the payer goes next."""

    list_display = ("id", "merchant", "status", "amount", "currency", "payment", "livemode", "created", "expires_at")
    list_filter = ("status", "livemode")
    search_fields = ("id", "merchant__id", "payment__id", "customer_email")
    readonly_fields = (
        "id",
        "merchant",
        "livemode",
        "status",
        "amount",
        "currency",
        "payment_methods",
        "payment",
        "attempt_count",
        "customer",
        "customer_email",
        "success_url",
        "cancel_url",
        "metadata",
        "created",
        "expires_at",
        "completed_at",
    )
    exclude = ("attempt_key",)
