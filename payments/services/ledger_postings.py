"""The executor's ledger postings, through the ledger's recipes (``ledger.recipes``).

Called inside the transaction that changes the payment, so the posting commits with the state change and its
outbox event or not at all. Until the ledger app (issue: the ledger branch) is part of the build, there is nothing
to post to: the postings are skipped with a warning, and start happening the moment ``ledger.recipes`` exists.
"""

from __future__ import annotations

import importlib
import importlib.util
from datetime import datetime
from types import ModuleType

import structlog

logger = structlog.get_logger(__name__)


def _ledger() -> tuple[ModuleType, ModuleType] | None:
    if importlib.util.find_spec("ledger.recipes") is None:
        return None
    return importlib.import_module("ledger.recipes"), importlib.import_module("ledger.money")


def ledger_available() -> bool:
    return _ledger() is not None


def payment_captured_post(
    *,
    merchant_id: str,
    connector: str,
    payment_id: str,
    amount: int,
    fee: int,
    currency: str,
    occurred_at: datetime,
    provider_reference: str | None,
) -> None:
    ledger = _ledger()
    if ledger is None:
        logger.warning("ledger_not_installed", posting="payment_captured", payment_id=payment_id)
        return
    recipes, money = ledger
    recipes.payment_captured(
        merchant_id=merchant_id,
        connector=connector,
        payment_id=payment_id,
        gross=money.Money(amount, currency),
        fee=money.Money(fee, currency),
        occurred_at=occurred_at,
        provider_reference=provider_reference,
    )


def refund_post(
    *,
    merchant_id: str,
    connector: str,
    refund_id: str,
    payment_id: str,
    amount: int,
    currency: str,
    occurred_at: datetime,
    provider_reference: str | None,
) -> None:
    ledger = _ledger()
    if ledger is None:
        logger.warning("ledger_not_installed", posting="refund_created", refund_id=refund_id)
        return
    recipes, money = ledger
    recipes.refund_created(
        merchant_id=merchant_id,
        connector=connector,
        refund_id=refund_id,
        payment_id=payment_id,
        amount=money.Money(amount, currency),
        occurred_at=occurred_at,
        provider_reference=provider_reference,
    )
