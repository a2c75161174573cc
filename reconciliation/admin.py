"""Finance's back office: settlement files (and their upload), runs with their reports, the exception queue.

Everything is read-only; the only writes are the upload and the resolution actions, which call the services.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin_base import ModelAdmin, TabularInline
from core.amounts import amount_display
from core.errors import LedgerlineError
from ledger.admin import ReadOnlyAdmin
from payments.connectors.registry import connector_names
from reconciliation.enums import DiscrepancyStatus, Resolution, SettlementFileSource
from reconciliation.models import Discrepancy, DiscrepancyResolution, ReconciliationRun, SettlementFile
from reconciliation.reports import report_csv, report_xlsx
from reconciliation.services.resolutions import RESOLVE_PERMISSION, discrepancy_resolve
from reconciliation.services.runs import reconcile_day

FORM_TEMPLATE = "admin/reconciliation/form.html"


class UploadForm(forms.Form):
    connector = forms.ChoiceField(choices=[])
    settlement_date = forms.DateField(help_text="YYYY-MM-DD")
    file = forms.FileField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connector"].choices = [(name, name) for name in connector_names()]  # type: ignore[attr-defined]


@admin.register(SettlementFile)
class SettlementFileAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "connector",
        "settlement_date",
        "line_count",
        "status",
        "superseded_by",
        "source",
        "created",
        "sha256",
    )
    list_filter = ("connector", "status", "source")
    date_hierarchy = "settlement_date"
    readonly_fields = [field.name for field in SettlementFile._meta.fields]

    def get_urls(self) -> list[URLPattern]:
        upload = path("upload/", self.admin_site.admin_view(self.upload_view), name="reconciliation_upload")
        return [upload, *super().get_urls()]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("reconciliation.view_settlementfile"):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                run = reconcile_day(
                    connector=form.cleaned_data["connector"],
                    settlement_date=form.cleaned_data["settlement_date"],
                    source=form.cleaned_data["file"],
                    source_kind=SettlementFileSource.UPLOAD,
                    uploaded_by=request.user.get_username(),
                )
            except LedgerlineError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request, f"Run {run.pk}: {run.matched} matched, {run.new_discrepancies} new discrepancies."
                )
                return HttpResponseRedirect(reverse("admin:reconciliation_reconciliationrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a settlement file",
            "form": form,
            "submit": "Import and reconcile",
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "file",
        "started_at",
        "duration_ms",
        "lines",
        "matched",
        "unmatched",
        "new_discrepancies",
        "gross_per_currency",
        "reports",
    )
    list_filter = ("file__connector",)
    readonly_fields = [field.name for field in ReconciliationRun._meta.fields] + ["gross_per_currency", "reports"]

    @admin.display(description="gross: settlement / matched / ledger")
    def gross_per_currency(self, run: ReconciliationRun) -> str:
        return "; ".join(
            f"{_shown(t.settlement_gross, t.currency)} / {_shown(t.matched_gross, t.currency)}"
            f" / {_shown(t.ledger_gross, t.currency)}"
            for t in run.totals.order_by("currency")
        )

    @admin.display(description="report")
    def reports(self, run: ReconciliationRun) -> str:
        return format_html(
            '<a href="{}">CSV</a> · <a href="{}">XLSX</a>',
            reverse("admin:reconciliation_report", args=[run.pk, "csv"]),
            reverse("admin:reconciliation_report", args=[run.pk, "xlsx"]),
        )

    def get_urls(self) -> list[URLPattern]:
        report = path(
            "<int:run_id>/report.<str:extension>",
            self.admin_site.admin_view(self.report_view),
            name="reconciliation_report",
        )
        return [report, *super().get_urls()]

    def report_view(self, request: HttpRequest, run_id: int, extension: str) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(ReconciliationRun.objects.select_related("file"), pk=run_id)
        name = f"reconciliation-run-{run.pk}-{run.file.connector}-{run.file.settlement_date}"
        if extension == "csv":
            response = StreamingHttpResponse(report_csv(run), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
            return response
        if extension == "xlsx":
            return FileResponse(report_xlsx(run), as_attachment=True, filename=f"{name}.xlsx")
        raise PermissionDenied


def _shown(amount: int | None, currency: str) -> str:
    if amount is None:
        return "—"
    return amount_display(amount, currency) if currency else f"{amount} (minor units)"


def _pair(theirs: int | None, their_currency: str, ours: int | None, our_currency: str) -> str:
    return f"{_shown(theirs, their_currency)} / {_shown(ours, our_currency)}"


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    _DAYS = {"1d": (0, 1), "1-7d": (1, 7), "7-30d": (7, 30), "30d+": (30, None)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, key) for key in self._DAYS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in self._DAYS:
            return queryset
        low, high = self._DAYS[str(self.value())]
        now = timezone.now()
        queryset = queryset.filter(created__lte=now - timedelta(days=low))
        return queryset if high is None else queryset.filter(created__gt=now - timedelta(days=high))


class ResolutionForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea, max_length=500)


class DiscrepancyResolutionInline(TabularInline[DiscrepancyResolution, Discrepancy]):
    model = DiscrepancyResolution
    fields = ("created", "action", "actor", "reason", "journal_reference")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Discrepancy | None = None) -> bool:
        return False


def _resolution_action(action: Resolution) -> Any:
    @admin.action(description=f"Resolve: {action.label.lower()} (asks for a reason)")
    def resolve(
        modeladmin: DiscrepancyAdmin, request: HttpRequest, queryset: QuerySet[Discrepancy]
    ) -> HttpResponse | None:
        open_ones = list(queryset.filter(status=DiscrepancyStatus.OPEN))
        form = ResolutionForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = 0
            for discrepancy in open_ones:
                try:
                    discrepancy_resolve(
                        discrepancy_id=discrepancy.pk,
                        action=action,
                        user=request.user,  # type: ignore[arg-type]
                        reason=form.cleaned_data["reason"],
                    )
                    done += 1
                except LedgerlineError as exc:
                    modeladmin.message_user(request, f"{discrepancy}: {exc.message}", messages.ERROR)
            modeladmin.message_user(request, f"{done} discrepancies resolved ({action.label.lower()}).")
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": f"{action.label}: give the reason",
            "items": open_ones,
            "form": form,
            "selected": [d.pk for d in open_ones],
            "action": f"resolve_{action.value}",
            "submit": action.label,
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)

    resolve.__name__ = f"resolve_{action.value}"
    resolve.allowed_permissions = ("resolve",)  # type: ignore[attr-defined]
    return resolve


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "connector",
        "provider_reference",
        "payment_id",
        "amounts",
        "fees",
        "age",
    )
    list_filter = ("status", "kind", "connector", AgeFilter)
    search_fields = ("provider_reference", "our_reference", "payment_id", "key")
    readonly_fields = [field.name for field in Discrepancy._meta.fields]
    inlines = (DiscrepancyResolutionInline,)
    actions = [
        _resolution_action(action)
        for action in (Resolution.MATCHED_MANUALLY, Resolution.WRITTEN_OFF, Resolution.REFUNDED, Resolution.FULFILLED)
    ]

    @admin.display(description="amount: settlement / ours")
    def amounts(self, discrepancy: Discrepancy) -> str:
        return _pair(
            discrepancy.settlement_amount,
            discrepancy.currency,
            discrepancy.our_amount,
            discrepancy.our_currency or discrepancy.currency,
        )

    @admin.display(description="fee: settlement / ours")
    def fees(self, discrepancy: Discrepancy) -> str:
        return _pair(
            discrepancy.settlement_fee,
            discrepancy.currency,
            discrepancy.our_fee,
            discrepancy.our_currency or discrepancy.currency,
        )

    @admin.display(description="age", ordering="created")
    def age(self, discrepancy: Discrepancy) -> str:
        days = (timezone.now() - discrepancy.created).days
        return f"{days} d"

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        # The resolution actions post to the ledger: only with their own permission (the service checks it again).
        return bool(request.user.has_perm(RESOLVE_PERMISSION))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # The ledger's read-only admin offers no actions; the queue's actions are its resolutions.
        return ModelAdmin.get_actions(self, request)
