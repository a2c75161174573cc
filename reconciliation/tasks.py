"""Celery tasks of reconciliation: the nightly fetch-and-match of every connector's settlement file."""

from __future__ import annotations

from datetime import date

import httpx
import structlog
from celery import shared_task
from django.utils import timezone

from payments.connectors.registry import connector_names
from reconciliation.enums import SettlementFileSource
from reconciliation.exceptions import SettlementUnavailableError
from reconciliation.services.runs import reconcile_day

logger = structlog.get_logger(__name__)


@shared_task(name="reconciliation.reconcile_nightly")
def reconcile_nightly(settlement_date: str | None = None) -> list[str]:
    """Fan out one task per connector for the day's file (today, UTC: it holds yesterday's movements)."""
    day = settlement_date or timezone.now().date().isoformat()
    for connector in connector_names():
        reconcile_connector_day.delay(connector, day)
    return connector_names()


@shared_task(
    name="reconciliation.reconcile_connector_day",
    # A file not produced yet (SettlementUnavailableError) is fetched again later, like a provider outage.
    autoretry_for=(httpx.TransportError, httpx.HTTPStatusError, SettlementUnavailableError),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=8,
)
def reconcile_connector_day(connector: str, settlement_date: str) -> int:
    run = reconcile_day(
        connector=connector,
        settlement_date=date.fromisoformat(settlement_date),
        source_kind=SettlementFileSource.NIGHTLY,
    )
    return run.pk
