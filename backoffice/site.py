"""The Ledgerline admin site: django-unfold's site, branded, with navigation laid out for support and finance.

``settings.UNFOLD`` names the callables below; unfold calls each with the request. Navigation shows a person only
what their permissions let them open; the badges are the queues that need someone now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import URLPattern, path, reverse
from unfold.sites import UnfoldAdminSite

from backoffice import selectors
from backoffice.dashboard_page import DASHBOARD_PERMISSION, dashboard_context
from backoffice.search import search_objects
from backoffice.signin import StaffLoginForm, second_factor_satisfied

SEARCH_MAX_LENGTH = 255


class LedgerlineAdminSite(UnfoldAdminSite):
    site_header = "Ledgerline"
    site_title = "Ledgerline back office"
    index_title = "Back office"
    login_form = StaffLoginForm
    login_template = "admin/backoffice/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        # Staff who enrolled an authenticator only get in with a session that gave a code (backoffice.signin).
        return super().has_permission(request) and second_factor_satisfied(request)

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = super().get_urls()
        return [
            path("find/", self.admin_view(self.find_view), name="find"),
            path("dashboard/", self.admin_view(self.dashboard_view), name="dashboard"),
            *urls,
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """Finance's and Support's overview (``backoffice.dashboard_page``); both groups can view payments."""
        if not request.user.has_perm(DASHBOARD_PERMISSION):
            raise PermissionDenied
        context = {**self.each_context(request), "title": "Dashboard", **dashboard_context(request.GET)}
        return TemplateResponse(request, "admin/backoffice/dashboard.html", context)

    def find_view(self, request: HttpRequest) -> HttpResponse:
        """The header's search box: one match opens it; several are listed; none says what can be searched."""
        query = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
        hits = [hit for hit in search_objects(query) if request.user.has_perm(hit.permission)]
        if len(hits) == 1:
            return HttpResponseRedirect(hits[0].url)
        context = {**self.each_context(request), "title": f"Search: {query}" if query else "Search", "query": query}
        context["hits"] = hits
        return TemplateResponse(request, "admin/backoffice/search.html", context)


def favicons(request: HttpRequest) -> list[dict[str, str]]:
    return [{"rel": "icon", "type": "image/svg+xml", "href": static("backoffice/favicon.svg")}]


def stylesheet(request: HttpRequest) -> str:
    return static("backoffice/backoffice.css")


def environment(request: HttpRequest) -> list[str]:
    """The label in the header: which platform a person is looking at."""
    if settings.PRODUCTION:
        return ["Production", "danger"]
    if settings.TESTING:
        return ["Test", "warning"]
    return ["Demo", "info"]


def primary_colors(request: HttpRequest) -> dict[str, str]:
    """Ledgerline's teal. Shade 600 (buttons, links, active items) keeps white text above 5:1 contrast."""
    return {
        "50": "oklch(98.4% .014 180.72)",
        "100": "oklch(95.3% .051 180.801)",
        "200": "oklch(91% .096 180.426)",
        "300": "oklch(85.5% .138 181.071)",
        "400": "oklch(70.4% .14 182.503)",
        "500": "oklch(60% .118 184.704)",
        "600": "oklch(51.1% .096 186.391)",
        "700": "oklch(43.7% .078 188.216)",
        "800": "oklch(38.6% .063 188.416)",
        "900": "oklch(27.7% .046 192.524)",
        "950": "oklch(22% .04 193)",
    }


def _can(permission: str) -> Callable[[HttpRequest], bool]:
    def check(request: HttpRequest) -> bool:
        return bool(request.user.has_perm(permission))

    return check


def _item(
    title: str,
    icon: str,
    url_name: str,
    permission: str,
    *,
    query: str = "",
    count: Callable[[], int] | None = None,
    request: HttpRequest | None = None,
    variant: str = "danger",
) -> dict[str, Any]:
    """A navigation link; with ``count``, a badge saying how many wait in that queue (when any do and the person
    may see them)."""
    item: dict[str, Any] = {
        "title": title,
        "icon": icon,
        "link": reverse(url_name) + (f"?{query}" if query else ""),
        "permission": _can(permission),
    }
    if count is not None and request is not None and request.user.has_perm(permission):
        waiting = count()
        if waiting:
            item.update(badge=str(waiting), badge_variant=variant)
    return item


def navigation(request: HttpRequest) -> list[dict[str, Any]]:
    """Support's queues first, then finance's, then the platform's plumbing and who may do what."""
    return [
        {
            "title": "Overview",
            "items": [_item("Dashboard", "monitoring", "admin:dashboard", DASHBOARD_PERMISSION)],
        },
        {
            "title": "Support",
            "items": [
                _item("Payments", "payments", "admin:payments_payment_changelist", "payments.view_payment"),
                _item("Refunds", "undo", "admin:payments_refund_changelist", "payments.view_refund"),
                _item(
                    "Disputes",
                    "gavel",
                    "admin:payments_dispute_changelist",
                    "payments.view_dispute",
                    query="status__exact=needs_response",
                    count=selectors.disputes_needing_response_count,
                    request=request,
                ),
                _item(
                    "Attempts in doubt",
                    "help",
                    "admin:payments_paymentattempt_changelist",
                    "payments.view_paymentattempt",
                    query="in_doubt=yes",
                    count=selectors.attempts_in_doubt_count,
                    request=request,
                    variant="warning",
                ),
                _item("Merchants", "storefront", "admin:payments_merchant_changelist", "payments.view_merchant"),
                _item("Customers", "group", "admin:payments_customer_changelist", "payments.view_customer"),
            ],
        },
        {
            "title": "Finance",
            "items": [
                _item("Payouts", "account_balance", "admin:payments_payout_changelist", "payments.view_payout"),
                _item(
                    "Discrepancies",
                    "rule",
                    "admin:reconciliation_discrepancy_changelist",
                    "reconciliation.view_discrepancy",
                    query="status__exact=open",
                    count=selectors.discrepancies_open_count,
                    request=request,
                    variant="warning",
                ),
                _item(
                    "Settlement files",
                    "upload_file",
                    "admin:reconciliation_settlementfile_changelist",
                    "reconciliation.view_settlementfile",
                ),
                # The upload page had no link anywhere: Finance had to know its URL.
                _item(
                    "Upload a settlement file",
                    "upload",
                    "admin:reconciliation_upload",
                    "reconciliation.view_settlementfile",
                ),
                _item(
                    "Reconciliation runs",
                    "fact_check",
                    "admin:reconciliation_reconciliationrun_changelist",
                    "reconciliation.view_reconciliationrun",
                ),
                _item(
                    "Ledger transactions",
                    "menu_book",
                    "admin:ledger_journaltransaction_changelist",
                    "ledger.view_journaltransaction",
                ),
                _item("Ledger accounts", "account_tree", "admin:ledger_account_changelist", "ledger.view_account"),
                _item("Reports", "download", "admin:reports_reportrun_changelist", "backoffice.view_reports"),
            ],
        },
        {
            "title": "Platform",
            "collapsible": True,
            "items": [
                _item("Events", "bolt", "admin:payments_event_changelist", "payments.view_event"),
                _item(
                    "Webhook deliveries",
                    "send",
                    "admin:payments_webhookdelivery_changelist",
                    "payments.view_webhookdelivery",
                ),
                _item(
                    "Webhook endpoints",
                    "webhook",
                    "admin:payments_webhookendpoint_changelist",
                    "payments.view_webhookendpoint",
                ),
                _item(
                    "Provider events", "inbox", "admin:payments_providerevent_changelist", "payments.view_providerevent"
                ),
                _item("API keys", "key", "admin:payments_apikey_changelist", "payments.view_apikey"),
                _item(
                    "Merchant pricing",
                    "sell",
                    "admin:payments_merchantpricing_changelist",
                    "payments.view_merchantpricing",
                ),
            ],
        },
        {
            "title": "Access",
            "collapsible": True,
            "items": [
                _item(
                    "Audit log", "history", "admin:backoffice_auditlogentry_changelist", "backoffice.view_auditlogentry"
                ),
                _item("Users", "person", "admin:auth_user_changelist", "auth.view_user"),
                _item("Groups", "group", "admin:auth_group_changelist", "auth.view_group"),
            ],
        },
    ]
