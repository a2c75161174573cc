"""List filters shared by the back office's lists (unfold's dropdown and range filters, plus two of our own)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.contrib.filters.admin import (
    AutocompleteSelectFilter,
    ChoicesDropdownFilter,
    DropdownFilter,
    RangeDateTimeFilter,
)

from backoffice.selectors import IN_DOUBT
from payments.selectors import connector_names

__all__ = ["AutocompleteSelectFilter", "ChoicesDropdownFilter", "RangeDateTimeFilter", "connector_filter"]


def connector_filter(field: str) -> type[admin.SimpleListFilter]:
    """Filter by the provider connector stored in ``field`` (``psp`` on payments, ``connector`` elsewhere)."""

    class ConnectorFilter(DropdownFilter):
        title = "connector"
        parameter_name = "connector"

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            return [(name, name) for name in connector_names()]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    return ConnectorFilter


class InDoubtFilter(admin.SimpleListFilter):
    """Attempts a person must resolve (flagged), or whose outcome nobody knows yet (the janitor is still asking)."""

    title = "in doubt"
    parameter_name = "in_doubt"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("yes", "In doubt (flagged or unknown)"),
            ("flagged", "Needs a person"),
            ("unknown", "Outcome unknown"),
            ("no", "Settled"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "yes":
            return queryset.filter(IN_DOUBT)
        if value == "flagged":
            return queryset.exclude(review_reason="")
        if value == "unknown":
            return queryset.filter(outcome="unknown")
        if value == "no":
            return queryset.exclude(IN_DOUBT)
        return queryset
