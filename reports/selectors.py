"""Reading report runs: a merchant sees only its own, of its key's mode; another's is a 404."""

from __future__ import annotations

from django.db.models import QuerySet

from payments.exceptions import ResourceMissingError
from payments.models import Merchant
from reports.models import ReportRun


def report_run_list(*, merchant: Merchant, livemode: bool) -> QuerySet[ReportRun]:
    return ReportRun.objects.filter(merchant=merchant, livemode=livemode)


def report_run_get(*, merchant: Merchant, livemode: bool, report_id: str) -> ReportRun:
    run = report_run_list(merchant=merchant, livemode=livemode).filter(pk=report_id).first()
    if run is None:
        raise ResourceMissingError(f"No such report: '{report_id[:64]}'.")
    return run


def report_runs_recent(*, limit: int = 50) -> QuerySet[ReportRun]:
    """The back office's list: every run, newest first."""
    return ReportRun.objects.select_related("merchant").order_by("-id")[:limit]
