from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from payments.models import (
    ApiKey,
    Event,
    Merchant,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from payments.services.webhooks import webhook_delivery_resend, webhook_endpoint_disable, webhook_endpoint_enable


class ApiKeyInline(admin.TabularInline[ApiKey, Merchant]):
    model = ApiKey
    fields = ("id", "name", "livemode", "redacted", "created", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Merchant | None = None) -> bool:
        return False


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin[Merchant]):
    list_display = ("id", "name", "email", "created")
    search_fields = ("id", "name", "email")
    readonly_fields = ("id", "created")
    inlines = [ApiKeyInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ("id", "merchant", "redacted", "livemode", "created", "last_used_at", "revoked_at")
    list_filter = ("livemode",)
    search_fields = ("id", "merchant__id", "merchant__name", "prefix")
    readonly_fields = (
        "id",
        "merchant",
        "prefix",
        "last4",
        "livemode",
        "created",
        "last_used_at",
        "revoked_at",
    )
    exclude = ("key_hash",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- Events and webhooks ---------------------------------------------------------------------------------------
# Read-only views of what happened; the only writes are actions calling the same services as the API and workers.


class _ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WebhookDeliveryInline(admin.TabularInline[WebhookDelivery, Event]):
    model = WebhookDelivery
    fields = ("id", "endpoint", "status", "attempt_count", "last_attempt_at", "next_attempt_at", "succeeded_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False


class WebhookDeliveryAttemptInline(admin.TabularInline[WebhookDeliveryAttempt, WebhookDelivery]):
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
    list_display = ("id", "url", "merchant", "livemode", "status", "consecutive_failures", "failing_since")
    list_filter = ("status", "livemode")
    search_fields = ("id", "url", "merchant__id", "merchant__name")
    # The signing secrets are deliberately absent: nobody needs to read them here.
    readonly_fields = (
        "id",
        "merchant",
        "livemode",
        "url",
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
    actions = ["enable", "disable"]

    @admin.action(description="Enable (forget the failure streak)")
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_endpoint_enable(endpoint=endpoint)
        self.message_user(request, f"{len(queryset)} endpoints enabled.")

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
