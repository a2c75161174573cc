"""The dashboard page's filters and context: the figures of ``backoffice.dashboard`` drawn as SVG charts and tables."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils import timezone

from backoffice import charts, dashboard
from backoffice.presentation import money
from core.amounts import amount_display
from core.currencies import is_currency

DASHBOARD_PERMISSION = "payments.view_payment"  # Support and Finance both have it
MAX_DAYS = 92


class DashboardFilterForm(forms.Form):
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    currency = forms.CharField(label="Currency", required=False, max_length=3)

    def clean_currency(self) -> str:
        currency = str(self.cleaned_data.get("currency") or "usd").lower()
        if not is_currency(currency):
            raise forms.ValidationError("Not an ISO 4217 currency.")
        return currency

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = timezone.now().date()
        date_to = data.get("date_to") or today
        date_from = data.get("date_from") or date_to - timedelta(days=6)
        if date_from > date_to:
            raise forms.ValidationError("'From' must not be after 'To'.")
        if (date_to - date_from).days >= MAX_DAYS:
            raise forms.ValidationError(f"Show at most {MAX_DAYS} days.")
        data.update(date_from=date_from, date_to=date_to)
        return data


def dashboard_context(query: QueryDict) -> dict[str, Any]:
    form = DashboardFilterForm(query or None)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = dashboard.DashboardFilters(data["date_from"], data["date_to"], data["currency"])
    else:
        filters = dashboard.DashboardFilters.default()
        if not form.is_bound:
            form = DashboardFilterForm(
                initial={"date_from": filters.date_from, "date_to": filters.date_to, "currency": filters.currency}
            )
    currency = filters.currency
    series = dashboard.daily_volume(filters)
    auth = dashboard.authorization_rates(filters)
    auth_total = dashboard.Rate("All connectors", sum(r.numerator for r in auth), sum(r.denominator for r in auth))
    rates = dashboard.refund_and_dispute_rates(filters, series.total_count)
    discrepancies = dashboard.open_discrepancies()
    payouts = dashboard.payouts_due(filters)
    owing = dashboard.merchants_owing(filters)
    return {
        "form": form,
        "filters": filters,
        "volume_chart": charts.stacked_bars(
            title=f"Captured volume per day ({currency.upper()})",
            days=series.days,
            series=series.volume,
            label=lambda v: amount_display(v, currency),
        ),
        "count_chart": charts.stacked_bars(title="Captured payments per day", days=series.days, series=series.count),
        "auth_chart": charts.percent_bars(
            title="Authorization success rate", rows=[(r.label, r.percent) for r in [*auth, auth_total]]
        ),
        "rates_chart": charts.percent_bars(
            title="Refund and dispute rates", rows=[(r.label, r.percent) for r in rates]
        ),
        "series_rows": [
            {
                "name": name,
                "count": sum(series.count[name].values()),
                "volume": money(sum(series.volume[name].values()), currency),
            }
            for name in sorted(series.volume)
        ],
        "total_volume": money(series.total_volume, currency),
        "total_count": series.total_count,
        "auth_total": auth_total,
        "auth": auth,
        "rates": rates,
        "discrepancies": discrepancies,
        "discrepancy_rows": [(kind, discrepancies.row(kind)) for kind in discrepancies.kinds],
        "in_doubt": dashboard.attempts_in_doubt(),
        "payouts_due": payouts,
        "payouts_due_amount": money(payouts.amount, currency),
        "owing": [(o, money(o.owed, o.currency)) for o in owing],
    }
