"""Alerting on a run whose new, unresolved discrepancies exceed the threshold: ERROR log, mail, metric."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Count

from reconciliation.enums import DiscrepancyStatus
from reconciliation.metrics import counter_increment

if TYPE_CHECKING:
    from reconciliation.models import ReconciliationRun

logger = structlog.get_logger(__name__)
ALERT_METRIC = "reconciliation_alerts_total"


def finance_emails() -> list[str]:
    users = (
        get_user_model()
        .objects.filter(groups__name=settings.RECONCILIATION_FINANCE_GROUP, is_active=True)
        .exclude(email="")
    )
    return sorted(set(users.values_list("email", flat=True)))


def discrepancies_alert(*, run: ReconciliationRun) -> bool:
    """Alert when the run found more new open discrepancies than ``RECONCILIATION_ALERT_THRESHOLD``."""
    if run.new_discrepancies <= settings.RECONCILIATION_ALERT_THRESHOLD:
        return False
    by_kind = {
        row["kind"]: row["n"]
        for row in run.discrepancies.filter(status=DiscrepancyStatus.OPEN).values("kind").annotate(n=Count("id"))
    }
    summary = ", ".join(f"{kind}: {n}" for kind, n in sorted(by_kind.items()))
    settlement_file = run.file
    subject = (
        f"Reconciliation {settlement_file.connector} {settlement_file.settlement_date}: "
        f"{run.new_discrepancies} new discrepancies"
    )
    logger.error(
        "reconciliation_discrepancies",
        run=run.pk,
        connector=settlement_file.connector,
        date=str(settlement_file.settlement_date),
        new_discrepancies=run.new_discrepancies,
        by_kind=by_kind,
    )
    recipients = finance_emails()
    if recipients:
        body = (
            f"{subject}.\n\nBy class (open): {summary or 'none'}.\n"
            f"Lines {run.lines}, matched {run.matched}, unmatched {run.unmatched}.\n"
            "The exception queue is in the admin under Reconciliation > Discrepancies.\n"
        )
        send_mail(subject, body, None, recipients)
    counter_increment(ALERT_METRIC)
    return True
