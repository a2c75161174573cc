"""Daily settlement files: which money movements settle on which day, and how the CSV is rendered.

A line is written to ``settlement_items`` the moment the money moves (capture, UPI success, refund success,
chargeback, chargeback reversal, dispute fee). Its settlement date is the UTC date of that moment plus
``settlement_lag_days`` (T+1 by default: the day's cut-off is 00:00 UTC). Files are rendered on demand, streamed,
and the settlement faults are applied while rendering, so the same request always yields the same file.

Sign convention: ``gross`` is signed from the merchant's side (charge +, refund -, chargeback -,
chargeback_reversal +, fee_adjustment 0); ``fee`` is what the provider keeps (positive = charged);
``net = gross - fee`` on every line.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from .clock import parse_iso

if TYPE_CHECKING:
    from .core import Sandbox

COLUMNS = (
    "batch_id",
    "settlement_date",
    "type",
    "provider_reference",
    "our_reference",
    "rrn",
    "currency",
    "gross",
    "fee",
    "net",
    "transaction_date",
    "original_provider_reference",
)
LINE_TYPES = ("charge", "refund", "chargeback", "chargeback_reversal", "fee_adjustment")
FAULT_MODES = ("drop_line", "alter_amount", "alter_fee", "duplicate_line", "settle_late", "unknown_charge")


def batch_id(provider: str, day: date) -> str:
    return f"stl_{provider}_{day:%Y%m%d}"


def add_item(
    sb: Sandbox,
    *,
    provider: str,
    type_: str,
    provider_reference: str,
    our_reference: str | None,
    currency: str,
    gross: int,
    fee: int,
    transaction_at: str,
    rrn: str | None = None,
    original_provider_reference: str | None = None,
) -> None:
    day = parse_iso(transaction_at).date() + timedelta(days=sb.tunables.settlement_lag_days)
    sb.store.add_settlement_item(
        {
            "provider": provider,
            "settlement_date": day.isoformat(),
            "type": type_,
            "provider_reference": provider_reference,
            "our_reference": our_reference or "",
            "original_provider_reference": original_provider_reference or "",
            "rrn": rrn or "",
            "currency": currency,
            "gross": gross,
            "fee": fee,
            "net": gross - fee,
            "transaction_at": transaction_at,
        }
    )


def row_of(item: dict[str, Any], provider: str, day: date) -> list[Any]:
    return [
        batch_id(provider, day),
        day.isoformat(),
        item["type"],
        item["provider_reference"],
        item["our_reference"],
        item["rrn"],
        item["currency"],
        item["gross"],
        item["fee"],
        item["gross"] - item["fee"],
        item["transaction_at"],
        item["original_provider_reference"],
    ]


def csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


# --- faults -------------------------------------------------------------------------------------------------


def _faults_for(sb: Sandbox, provider: str, day: date, modes: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        f
        for f in sb.settlement_faults
        if f["provider"] == provider and f["mode"] in modes and f.get("date") in (None, day.isoformat())
    ]


def _targets(fault: dict[str, Any], item: dict[str, Any], index: int) -> bool:
    reference = fault.get("reference")
    if reference:
        return reference in (item["our_reference"], item["provider_reference"])
    return index == int(fault.get("line", 0))


def _late_items(sb: Sandbox, provider: str, day: date) -> tuple[set[int], list[dict[str, Any]]]:
    """Lines moved out of ``day`` (their seq) and lines moved into ``day`` from the day before."""
    leaving: set[int] = set()
    for fault in _faults_for(sb, provider, day, ("settle_late",)):
        for index, item in enumerate(sb.store.iter_settlement_items(provider, day.isoformat())):
            if _targets(fault, item, index):
                leaving.add(item["seq"])
    arriving: list[dict[str, Any]] = []
    previous = day - timedelta(days=1)
    for fault in _faults_for(sb, provider, previous, ("settle_late",)):
        for index, item in enumerate(sb.store.iter_settlement_items(provider, previous.isoformat())):
            if _targets(fault, item, index):
                arriving.append(item)
    return leaving, arriving


def render(sb: Sandbox, provider: str, day: date) -> Iterator[str]:
    """Yield the CSV one line at a time (header first); memory stays flat whatever the line count."""
    yield csv_line(COLUMNS)
    leaving, arriving = _late_items(sb, provider, day)
    line_faults = _faults_for(sb, provider, day, ("drop_line", "alter_amount", "alter_fee", "duplicate_line"))
    for index, item in enumerate(sb.store.iter_settlement_items(provider, day.isoformat())):
        if item["seq"] in leaving:
            continue
        item = dict(item)
        copies = 1
        for fault in line_faults:
            if not _targets(fault, item, index):
                continue
            mode = fault["mode"]
            if mode == "drop_line":
                copies = 0
            elif mode == "duplicate_line":
                copies += 1
            elif mode == "alter_amount":
                item["gross"] += int(fault.get("delta", 100))
            elif mode == "alter_fee":
                item["fee"] += int(fault.get("delta", 1))
        for _ in range(copies):
            yield csv_line(row_of(item, provider, day))
    for item in arriving:
        yield csv_line(row_of(item, provider, day))
    for number, fault in enumerate(_faults_for(sb, provider, day, ("unknown_charge",)), start=1):
        amount = int(fault.get("amount", 1000))
        fee = int(fault.get("fee", 0))
        phantom = {
            "type": "charge",
            "provider_reference": fault.get("provider_reference") or f"ch_unknown_{day:%Y%m%d}_{number}",
            "our_reference": fault.get("our_reference", f"unknown_{day:%Y%m%d}_{number}"),
            "rrn": "",
            "currency": fault.get("currency", "inr" if provider == "upi" else "usd"),
            "gross": amount,
            "fee": fee,
            "transaction_at": f"{day - timedelta(days=1)}T12:00:00.000000Z",
            "original_provider_reference": "",
        }
        yield csv_line(row_of(phantom, provider, day))


async def stream(sb: Sandbox, provider: str, day: date) -> AsyncIterator[str]:
    """Async wrapper so Starlette streams on the event loop thread (the store is not used from other threads)."""
    for count, line in enumerate(render(sb, provider, day)):
        yield line
        if count % 500 == 0:
            await asyncio.sleep(0)  # let other requests run while a large file streams
