"""The back office's actions on attempts: ask the provider now, and clear a flag once a person has dealt with it."""

from __future__ import annotations

import structlog
from django.db import transaction

from payments.models import PaymentAttempt
from payments.services.attempts.queue import CHECK_ATTEMPT_TASK, attempt_enqueue

logger = structlog.get_logger(__name__)


def attempts_check_now(*, attempt_ids: list[str]) -> int:
    """A status lookup for each attempt, on its provider's queue, now (an admin action)."""
    with transaction.atomic():
        chosen = list(PaymentAttempt.objects.select_for_update().filter(pk__in=attempt_ids))
        for attempt in chosen:
            attempt_enqueue(attempt, task=CHECK_ATTEMPT_TASK)
    return len(chosen)


def attempts_mark_reviewed(*, attempt_ids: list[str], by: str) -> int:
    """Clears the review flag once a person has dealt with it; the reason is kept in the log."""
    with transaction.atomic():
        chosen = list(PaymentAttempt.objects.select_for_update().filter(pk__in=attempt_ids).exclude(review_reason=""))
        for attempt in chosen:
            logger.info("attempt_reviewed", attempt_id=attempt.id, by=by, reason=attempt.review_reason)
            attempt.review_reason = ""
            attempt.save(update_fields=["review_reason"])
    return len(chosen)
