"""Finance's reports page: ask for a report (a form), watch the runs' progress, download the finished files.

Every report run is produced by the Celery worker (``reports.services``), never in the admin's request. Finance
reports cover every merchant's money, so the page, the form and the downloads all need
``backoffice.view_reports`` (Finance has it; Support does not).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from backoffice.presentation import badge
from core.admin_base import ModelAdmin
from reports.enums import ReportStatus
from reports.models import ReportRun
from reports.services import report_run_create

FINANCE_REPORTS = "backoffice.view_reports"
_VARIANTS = {"pending": "info", "running": "warning", "succeeded": "success", "failed": "danger"}


class ReportRunForm(forms.ModelForm[ReportRun]):
    class Meta:
        model = ReportRun
        fields = ["type", "merchant", "date_from", "date_to", "format", "livemode"]
        labels = {"date_from": "From (UTC date, inclusive)", "date_to": "To (UTC date, inclusive)"}
        help_texts = {
            "merchant": "Empty: every merchant.",
            "date_to": "The trial balance and balances owed are as of the end of this date.",
        }


@admin.register(ReportRun)
class ReportRunAdmin(ModelAdmin[ReportRun]):
    form = ReportRunForm
    list_display = ["id", "type", "merchant", "date_from", "date_to", "format", "status_badge", "progress_bar", "rows"]
    list_display_links = ["id"]
    list_filter = ["type", "status"]
    list_select_related = ["merchant"]
    autocomplete_fields = ["merchant"]
    ordering = ["-id"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        # While a run is pending or running the list reloads itself every 5 s (a meta refresh: no script needed).
        in_progress = ReportRun.objects.filter(status__in=[ReportStatus.PENDING, ReportStatus.RUNNING]).exists()
        return super().changelist_view(request, {**(extra_context or {}), "reports_in_progress": in_progress})

    def _finance(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(FINANCE_REPORTS))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._finance(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._finance(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._finance(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: ReportRun | None = None) -> list[str]:
        if obj is None:
            return []
        return [f.name for f in ReportRun._meta.fields] + ["download"]

    def get_fields(self, request: HttpRequest, obj: ReportRun | None = None) -> list[str]:  # type: ignore[override]
        if obj is None:
            return list(ReportRunForm.Meta.fields)
        return [
            "id",
            "type",
            "merchant",
            "date_from",
            "date_to",
            "format",
            "status",
            "progress",
            "rows",
            "download",
            "failure_message",
            "requested_by",
            "created",
            "started_at",
            "finished_at",
        ]

    def save_model(self, request: HttpRequest, obj: ReportRun, form: Any, change: bool) -> None:
        """Recorded by the service (the run and its outbox command in one transaction); the worker produces it."""
        run = report_run_create(
            report_type=obj.type,
            report_format=obj.format,
            date_from=obj.date_from,
            date_to=obj.date_to,
            merchant=obj.merchant,
            livemode=obj.livemode,
            requested_by=request.user.get_username(),
            user_id=request.user.pk,
        )
        obj.pk = run.pk
        obj._state.adding = False

    @admin.display(description="status", ordering="status")
    def status_badge(self, run: ReportRun) -> SafeString:
        return badge(run.status, _VARIANTS.get(run.status, ""), title=run.failure_message)

    @admin.display(description="progress")
    def progress_bar(self, run: ReportRun) -> SafeString:
        if run.status == ReportStatus.SUCCEEDED:
            return self.download(run)
        return format_html(
            '<progress max="100" value="{}" aria-label="{}% done">{}%</progress>',
            run.progress,
            run.progress,
            run.progress,
        )

    @admin.display(description="file")
    def download(self, run: ReportRun) -> SafeString:
        if run.status != ReportStatus.SUCCEEDED:
            return SafeString("—")
        return format_html('<a href="{}">Download {}</a>', reverse("admin:reports_download", args=[run.pk]), run.format)

    def get_urls(self) -> list[URLPattern]:
        download = path(
            "<str:report_id>/download/", self.admin_site.admin_view(self.download_view), name="reports_download"
        )
        return [download, *super().get_urls()]

    def download_view(self, request: HttpRequest, report_id: str) -> FileResponse:
        if not self._finance(request):
            raise PermissionDenied
        run = ReportRun.objects.filter(pk=report_id).first()
        if run is None or run.status != ReportStatus.SUCCEEDED or not run.file:
            raise Http404("No such report file.")
        return FileResponse(run.file.open("rb"), as_attachment=True, filename=run.filename)
