from django.contrib import admin
from django.http import HttpRequest

from payments.models import ApiKey, Merchant


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
