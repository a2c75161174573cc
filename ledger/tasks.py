from __future__ import annotations

from typing import Any

import structlog
from celery import shared_task

from ledger.metrics import verification_record
from ledger.seal import seal_pending
from ledger.verification import verify_ledger

logger = structlog.get_logger(__name__)


@shared_task(name="ledger.verify")
def verify_ledger_task() -> dict[str, Any]:
    """Nightly: any violation is logged at ERROR, which is what the platform alerts on."""
    report = verify_ledger()
    verification_record(violations=len(report.violations))
    if report.ok:
        logger.info("ledger_verified", accounts=report.accounts, transactions=report.transactions)
    else:
        logger.error(
            "ledger_verification_failed",
            violations=[str(violation) for violation in report.violations],
            count=len(report.violations),
        )
    return {"ok": report.ok, "violations": len(report.violations), "entries": report.entries}


@shared_task(name="ledger.seal")
def seal_task(full: bool = False) -> dict[str, Any]:
    """Every few seconds: appends what was posted since to the hash chain; nightly with ``full`` (everything never
    sealed, however late it committed). A transaction whose MAC does not match is logged at ERROR and left out."""
    result = seal_pending(full=full, limit=50_000 if full else 5_000)
    return {"sealed": result.sealed, "refused": len(result.refused or []), "seal_id": result.seal_id}
