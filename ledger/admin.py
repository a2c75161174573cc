"""Read-only views of the journal: nobody, superusers included, adds, changes or deletes from the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.admin_base import ModelAdmin, TabularInline
from ledger.balances import balance
from ledger.models import Account, JournalEntry, JournalTransaction


class ReadOnlyAdmin(ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


class EntryInline(TabularInline[JournalEntry, JournalTransaction]):
    model = JournalEntry
    fields = ["account", "direction", "amount", "currency", "sequence", "balance_after", "posted_at"]
    readonly_fields = ["account", "direction", "amount", "currency", "sequence", "balance_after", "posted_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "type", "currency", "merchant_id", "non_negative", "current_balance"]
    list_filter = ["type", "currency", "non_negative"]
    search_fields = ["code", "merchant_id", "id"]

    @admin.display(description="balance")
    def current_balance(self, account: Account) -> str:
        return str(balance(account))


@admin.register(JournalTransaction)
class JournalTransactionAdmin(ReadOnlyAdmin):
    list_display = ["reference", "description", "occurred_at", "posted_at", "source_type", "source_id"]
    list_filter = ["source_type"]
    search_fields = ["reference", "id", "source_id"]
    date_hierarchy = "posted_at"
    inlines = [EntryInline]


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "transaction", "account", "direction", "amount", "currency", "sequence", "balance_after"]
    list_filter = ["currency", "direction"]
    search_fields = ["account__code", "transaction__reference", "merchant_id"]
    list_select_related = ["transaction", "account"]
