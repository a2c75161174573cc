"""What follows an attempt that did not happen: the next connector, the same call again later, or a watch.

An authorization the provider provably never saw (``not_sent``, ``not_found``) is tried again as a NEW attempt —
its own idempotency key and reference — on the next usable connector of the route, or after a backoff; a capture,
void or refund that never left is sent again as the SAME attempt (same key), since the money it acts on is where
it is. Both are bounded by ``PSP_MAX_ATTEMPTS_PER_PAYMENT``. Callers hold the payment and its attempts locked.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from payments.connectors import registry
from payments.connectors.retry import RetryPolicy
from payments.enums import AttemptOperation, AttemptOutcome, PaymentMethodType
from payments.models import Payment, PaymentAttempt
from payments.services.attempts.queue import attempt_enqueue, attempt_start

_rng = random.Random()  # noqa: S311 - retry jitter, not a secret


def retry_policy(*, max_attempts: int | None = None) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=max_attempts or settings.PSP_MAX_ATTEMPTS_PER_PAYMENT,
        base_seconds=settings.PSP_RETRY_BASE_SECONDS,
        cap_seconds=settings.PSP_RETRY_CAP_SECONDS,
    )


def _usable(payment: Payment, connector: str) -> bool:
    if payment.payment_method_type == PaymentMethodType.CARD and not payment.card_tokens.get(connector):
        return False
    return not registry.breaker_get(connector).is_open()


def _authorizations(payment: Payment) -> list[PaymentAttempt]:
    return [a for a in payment.known_attempts or [] if a.operation == AttemptOperation.AUTHORIZE]


def authorization_new(*, payment: Payment, connector: str, delay: float | None = None) -> PaymentAttempt:
    """A new authorize attempt (new key, new reference), queued on its connector; added to the locked attempts."""
    not_before = timezone.now() + timedelta(seconds=delay) if delay else None
    return attempt_start(
        payment=payment,
        operation=AttemptOperation.AUTHORIZE,
        amount=payment.amount,
        connector=connector,
        not_before=not_before,
    )


def authorization_after_decline(*, payment: Payment, connector: str) -> float | None:
    """A decline the provider says may pass next time (``processing_error``): a new attempt on the same connector
    after a backoff, a bounded number of times. Returns the delay, or None when the tries are used up."""
    delay = retry_policy().delay(len(_authorizations(payment)), _rng)
    if delay is not None:
        authorization_new(payment=payment, connector=connector, delay=delay)
    return delay


def authorization_elsewhere(*, payment: Payment) -> str | None:
    """After an authorization that provably never reached its provider: the next untried usable connector now, or
    a usable one after a backoff. Returns what was done (for logs), or None when nothing is left to try."""
    tried = [a.connector for a in _authorizations(payment)]
    route = registry.route_for(payment.payment_method_type)
    untried = [name for name in route if name not in tried and _usable(payment, name)]
    if untried:
        authorization_new(payment=payment, connector=untried[0])
        return f"failover_to_{untried[0]}"
    delay = retry_policy().delay(len(tried), _rng)
    if delay is None:
        return None
    usable = [name for name in route if _usable(payment, name)]
    authorization_new(payment=payment, connector=usable[0] if usable else route[0], delay=delay)
    return f"retry_in_{delay:.1f}s"


def attempt_send_again(*, attempt: PaymentAttempt) -> float | None:
    """A capture, void or refund that never left: the same attempt (same key) again after a backoff. Returns the
    delay, or None when the tries are used up (the attempt is then left for a person)."""
    attempt.outcome = AttemptOutcome.PENDING
    attempt.locked_at = None
    attempt.started_at = None
    attempt.next_check_at = None
    attempt.checks += 1
    delay = retry_policy(max_attempts=settings.PSP_MAX_ATTEMPTS_PER_PAYMENT * 3).delay(attempt.checks, _rng)
    if delay is not None:
        attempt_enqueue(attempt, not_before=timezone.now() + timedelta(seconds=delay))
    return delay


def late_success_watch(*, payment: Payment, attempt: PaymentAttempt) -> None:
    """A failed or expired UPI transaction may still succeed ("deemed" success): look again a few times, then
    stop — every watch has an end. A request the provider refused outright (``vpa_not_found``: it never created a
    transaction, so it has no reference of ours) cannot succeed later: nothing to watch."""
    schedule = settings.PSP_UNKNOWN_RECHECK_SCHEDULE
    created = bool(attempt.provider_reference)
    if payment.payment_method_type == PaymentMethodType.UPI and created and attempt.checks < len(schedule) - 1:
        attempt.next_check_at = timezone.now() + timedelta(seconds=schedule[max(2, attempt.checks)])
    else:
        attempt.next_check_at = None
