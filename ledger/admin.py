"""Read-only views of the journal: nobody, superusers included, adds, changes or deletes from the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.admin_base import ModelAdmin, TabularInline
from core.amounts import amount_display
from ledger.balances import balance
from ledger.models import Account, JournalEntry, JournalTransaction


def money(amount: int, currency: str) -> SafeString:
    """An amount in the currency's units (``$12.50``), never wrapped."""
    return format_html('<span class="ll-money">{}</span>', amount_display(amount, currency))


class ReadOnlyAdmin(ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


class EntryAmounts:
    """An entry's amount and running balance in the currency's units."""

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, entry: JournalEntry) -> SafeString:
        return money(entry.amount, entry.currency)

    @admin.display(description="balance after", ordering="balance_after")
    def balance_shown(self, entry: JournalEntry) -> SafeString:
        return money(entry.balance_after, entry.currency)


class EntryInline(EntryAmounts, TabularInline[JournalEntry, JournalTransaction]):
    model = JournalEntry
    fields = ["account", "direction", "amount_shown", "sequence", "balance_shown", "posted_at"]
    readonly_fields = ["account", "direction", "amount_shown", "sequence", "balance_shown", "posted_at"]
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
    def current_balance(self, account: Account) -> SafeString:
        current = balance(account)
        return money(current.amount, current.currency)


@admin.register(JournalTransaction)
class JournalTransactionAdmin(ReadOnlyAdmin):
    list_display = ["reference", "description", "occurred_at", "posted_at", "source_type", "source_id"]
    list_filter = ["source_type"]
    search_fields = ["reference", "id", "source_id"]
    date_hierarchy = "posted_at"
    inlines = [EntryInline]


@admin.register(JournalEntry)
class JournalEntryAdmin(EntryAmounts, ReadOnlyAdmin):
    list_display = ["id", "transaction", "account", "direction", "amount_shown", "sequence", "balance_shown"]
    list_filter = ["currency", "direction"]
    search_fields = ["account__code", "transaction__reference", "merchant_id"]
    list_select_related = ["transaction", "account"]
