"""A report run (``rpt_…``): what was asked for, its progress, and the file once produced.

Produced by a Celery task, never inside a request. ``status`` moves only by the transitions below:
pending → running → succeeded | failed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django_fsm import FSMField, FSMModelMixin, transition

from core.ids import new_id
from payments.models import Merchant
from reports.enums import ReportFormat, ReportStatus, ReportType

S = ReportStatus


def _report_id() -> str:
    return new_id("rpt")


class ReportRun(FSMModelMixin, models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_report_id, editable=False)
    # None: a back-office report over every merchant. A merchant's own reports are only ever its own.
    merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    livemode = models.BooleanField(null=True, blank=True, help_text="empty: both modes (back office)")
    type = models.CharField(max_length=32, choices=ReportType.choices)
    format = models.CharField(max_length=4, choices=ReportFormat.choices)
    date_from = models.DateField()
    date_to = models.DateField()
    status = FSMField(max_length=16, choices=S.choices, default=S.PENDING, protected=True)
    progress = models.PositiveSmallIntegerField(default=0)
    rows = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(upload_to="reports/%Y/%m/", blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    requested_by = models.CharField(max_length=150, blank=True, help_text="api, or the staff user")
    requested_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created = models.DateTimeField(db_default=Now(), editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "report"
        indexes = [models.Index(fields=["merchant", "livemode", "-id"], name="report_merchant_list")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=S.values), name="report_status_valid"),
            models.CheckConstraint(condition=Q(type__in=ReportType.values), name="report_type_valid"),
            models.CheckConstraint(condition=Q(format__in=ReportFormat.values), name="report_format_valid"),
            models.CheckConstraint(condition=Q(date_from__lte=models.F("date_to")), name="report_dates_ordered"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="report_progress_percent"),
        ]

    def __str__(self) -> str:
        return self.id

    @transition(field=status, source=S.PENDING, target=S.RUNNING)
    def start(self) -> None:
        self.progress = 0

    @transition(field=status, source=S.RUNNING, target=S.SUCCEEDED)
    def succeed(self, *, rows: int) -> None:
        self.rows = rows
        self.progress = 100

    @transition(field=status, source=[S.PENDING, S.RUNNING], target=S.FAILED)
    def fail(self, *, message: str) -> None:
        self.failure_message = message[:500]

    @property
    def filename(self) -> str:
        scope = self.merchant_id or "all"
        return f"{self.type}_{scope}_{self.date_from}_{self.date_to}.{self.format}"
