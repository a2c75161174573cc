"""One day of one connector end to end: fetch (or take) the file, import it, reconcile it."""

from __future__ import annotations

import tempfile
from datetime import date
from typing import IO

import httpx
from django.conf import settings

from payments.connectors.registry import connector_names
from reconciliation.enums import SettlementFileSource
from reconciliation.exceptions import SettlementUnavailableError
from reconciliation.models import ReconciliationRun
from reconciliation.services.imports import settlement_file_import
from reconciliation.services.matching import settlement_file_reconcile

_FETCH_CHUNK = 1 << 16


def settlement_file_fetch(*, connector: str, settlement_date: date, into: IO[bytes]) -> None:
    """Stream the provider's settlement file of one day into ``into`` (the sandbox's ``/settlements/D.csv``)."""
    config = settings.PSP_CONNECTORS.get(connector)
    if config is None:
        raise SettlementUnavailableError(f"no connector {connector!r}; known: {', '.join(connector_names())}")
    url = f"{config['base_url']}/settlements/{settlement_date.isoformat()}.csv"
    headers = {"Authorization": f"Bearer {config['api_key']}"}
    timeout = httpx.Timeout(connect=float(config.get("connect_timeout", 2.0)), read=60.0, write=10.0, pool=5.0)
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
        if response.status_code == 404:
            raise SettlementUnavailableError(f"{connector} has no settlement file for {settlement_date} yet")
        response.raise_for_status()
        for chunk in response.iter_bytes(_FETCH_CHUNK):
            into.write(chunk)
    into.seek(0)


def reconcile_day(
    *,
    connector: str,
    settlement_date: date,
    source: IO[bytes] | None = None,
    source_kind: SettlementFileSource = SettlementFileSource.COMMAND,
    uploaded_by: str = "",
) -> ReconciliationRun:
    """Import the day's file (fetched from the provider when ``source`` is None) and reconcile it.

    Running a day again re-imports nothing (the file is known by its hash) and changes neither ledger nor
    exception queue; it does record another run, which is how Finance sees a day turn clean after resolutions.
    """
    if connector not in connector_names():
        raise SettlementUnavailableError(f"no connector {connector!r}; known: {', '.join(connector_names())}")
    with tempfile.TemporaryFile() as spool:
        if source is None:
            settlement_file_fetch(connector=connector, settlement_date=settlement_date, into=spool)
            source = spool
        imported = settlement_file_import(
            connector=connector,
            settlement_date=settlement_date,
            source=source,
            source_kind=source_kind,
            uploaded_by=uploaded_by,
        )
    return settlement_file_reconcile(settlement_file=imported.file)
