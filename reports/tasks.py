"""Celery tasks of the reports app: thin, each calls one service."""

from __future__ import annotations

from celery import shared_task

from reports.services import GENERATE_TASK, report_run_execute


@shared_task(name=GENERATE_TASK, ignore_result=True)
def generate_report(report_id: str) -> str:
    return report_run_execute(report_id=report_id)
