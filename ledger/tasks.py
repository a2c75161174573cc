from __future__ import annotations

from typing import Any

import structlog
from celery import shared_task

from ledger.verification import verify_ledger

logger = structlog.get_logger(__name__)


@shared_task(name="ledger.verify")
def verify_ledger_task() -> dict[str, Any]:
    """Nightly: any violation is logged at ERROR, which is what the platform alerts on."""
    report = verify_ledger()
    if report.ok:
        logger.info("ledger_verified", accounts=report.accounts, transactions=report.transactions)
    else:
        logger.error(
            "ledger_verification_failed",
            violations=[str(violation) for violation in report.violations],
            count=len(report.violations),
        )
    return {"ok": report.ok, "violations": len(report.violations), "entries": report.entries}
