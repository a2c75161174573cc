"""A provider's corrected file for a day it already sent: which postings carry over, which are reversed.

The corrected file supersedes the earlier one at import (``services/imports.py``). Reconciling it then keeps every
settlement posting whose line the correction repeats exactly (posting it again is the same posting, a no-op),
reverses every other one (``psp_settlement_superseded``), and posts the corrected file's new or changed lines under
settlement ids of their own (``…:f<file id>``), so no line is ever settled twice. Open discrepancies about lines of
the superseded file follow the correction: refreshed from it, or closed when it no longer has them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from django.utils import timezone

from ledger import recipes, references
from reconciliation.enums import SettlementFileStatus
from reconciliation.models import SettlementFile, SettlementLine

_BATCH = 1000
LineKey = tuple[str, str]  # (type, provider_reference)
Amounts = tuple[int, int, str]  # (gross, fee, currency)


def superseded_ids(settlement_file: SettlementFile) -> list[int]:
    """The earlier files of the same connector-day this one replaces (directly or through an earlier correction)."""
    return list(
        SettlementFile.objects.filter(
            connector=settlement_file.connector,
            settlement_date=settlement_file.settlement_date,
            status=SettlementFileStatus.SUPERSEDED,
            pk__lt=settlement_file.pk,
        ).values_list("pk", flat=True)
    )


def settlement_id(line_type: str, provider_reference: str, *, corrected_file_id: int | None = None) -> str:
    base = f"{line_type}:{provider_reference}"
    return base if corrected_file_id is None else f"{base}:f{corrected_file_id}"


def _candidate_ids(keys: Iterable[LineKey], superseded: list[int]) -> list[str]:
    """Every settlement id a superseded file's line may have been posted under."""
    return [settlement_id(t, ref, corrected_file_id=file_id) for t, ref in keys for file_id in (None, *superseded)]


def _live(connector: str, keys: Iterable[LineKey], superseded: list[int]) -> Iterator[tuple[LineKey, str, Amounts]]:
    iterator = iter(keys)
    while batch := list(islice(iterator, _BATCH)):
        for posted in references.settlement_live(connector, _candidate_ids(batch, superseded)).prefetch_related(
            "entries"
        ):
            line_type = posted.source_id.split(":", 1)[0]
            key = (line_type, posted.metadata.get("provider_reference", ""))
            currency = posted.entries.all()[0].currency
            yield key, posted.source_id, (posted.metadata["gross"], posted.metadata["fee"], currency)


def carry_over(settlement_file: SettlementFile) -> dict[LineKey, str]:
    """For a corrected file: reverse the superseded postings it does not repeat exactly, and return the settlement
    id of each one it does (its lines post under that id, which is already posted: nothing moves twice)."""
    superseded = superseded_ids(settlement_file)
    if not superseded:
        return {}
    connector = settlement_file.connector
    corrected = {
        (t, ref): (gross, fee, currency)
        for t, ref, gross, fee, currency in SettlementLine.objects.filter(file=settlement_file)
        .values_list("type", "provider_reference", "gross", "fee", "currency")
        .iterator(chunk_size=5000)
    }
    previous = list(
        SettlementLine.objects.filter(file_id__in=superseded).values_list("type", "provider_reference").distinct()
    )
    carried: dict[LineKey, str] = {}
    for key, posted_id, amounts in list(_live(connector, previous, superseded)):
        if corrected.get(key) == amounts:
            carried[key] = posted_id
            continue
        recipes.psp_settlement_superseded(
            connector=connector,
            settlement_id=posted_id,
            occurred_at=timezone.now(),
            reason=f"corrected by {settlement_file}",
        )
    return carried


def line_settlement_id(line: SettlementLine) -> str:
    """The settlement id one line posts under (for resolving a discrepancy about it): a line of a corrected file
    repeating a posted line exactly takes that posting's id, any other line of it the corrected file's own."""
    settlement_file = line.file
    superseded = superseded_ids(settlement_file)
    if not superseded:
        return settlement_id(line.type, line.provider_reference)
    key = (line.type, line.provider_reference)
    for _, posted_id, amounts in _live(settlement_file.connector, [key], superseded):
        if amounts == (line.gross, line.fee, line.currency):
            return posted_id
    return settlement_id(line.type, line.provider_reference, corrected_file_id=settlement_file.pk)
