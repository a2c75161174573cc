"""The janitor: asks providers about attempts whose outcome is open, and runs attempts whose task was lost.

A beat task hands each due attempt to its provider's queue; the check there asks the provider by our reference
(:func:`attempt_check`) and applies the answer through the one apply service, exactly as if the call had answered.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Q, When
from django.db.models.functions import Now

from core.logging import bind_payment
from payments.connectors import registry
from payments.connectors.base import Outcome, ProviderMismatchError, ProviderResult
from payments.enums import AttemptOperation, AttemptOutcome, PaymentMethodType
from payments.models import PaymentAttempt
from payments.services.attempts.apply import OPEN, attempt_result_apply
from payments.services.attempts.call import attempt_execute
from payments.services.attempts.claim import attempt_authorization
from payments.services.attempts.queue import CHECK_ATTEMPT_TASK, attempt_connector_default, attempt_enqueue
from payments.services.payments import payment_lock_with_attempts

_FIELDS = ("id", "connector", "merchant_id", "livemode", "payment_id")


def attempts_janitor(*, limit: int = 200) -> dict[str, int]:
    """Beat task body: hands each due attempt to its provider's queue for a status lookup (or a first run).

    Due attempts are claimed with ``SKIP LOCKED``: one being applied right now is simply left for the next run.
    """
    stale = Now() - timedelta(seconds=settings.PSP_ATTEMPT_STALE_SECONDS)
    later = Now() + timedelta(seconds=settings.PSP_ATTEMPT_STALE_SECONDS)
    with transaction.atomic():
        to_check = list(
            PaymentAttempt.objects.select_for_update(skip_locked=True)
            .filter(
                Q(outcome__in=OPEN, next_check_at__lte=Now())
                | Q(outcome=AttemptOutcome.PENDING, locked_at__lt=stale)
                # A failed UPI attempt watched for a late ("deemed") success.
                | Q(outcome=AttemptOutcome.FAILED, next_check_at__lte=Now())
            )
            .only(*_FIELDS)
            .order_by("next_check_at")[:limit]
        )
        never_ran = list(
            PaymentAttempt.objects.select_for_update(skip_locked=True)
            .filter(
                outcome=AttemptOutcome.PENDING, locked_at=None, started_at=None, next_check_at=None, created__lt=stale
            )
            .only(*_FIELDS)
            .order_by("id")[:limit]
        )
        # Pushed forward now so the next run does not hand out the same check again; a stale claim is taken over
        # (a check task that dies too leaves it stale again, and it comes back here).
        # One UPDATE per row: PostgreSQL re-checks a foreign key when a row this transaction already updated is
        # updated again, and that deferred check takes a KEY SHARE lock on the payment at commit, which deadlocks
        # with a worker that holds the payment and waits for this attempt.
        PaymentAttempt.objects.filter(pk__in=[a.pk for a in to_check]).update(
            next_check_at=later, locked_at=Case(When(locked_at__isnull=False, then=Now()), default=None)
        )
        PaymentAttempt.objects.filter(pk__in=[a.pk for a in never_ran]).update(next_check_at=later)
        for attempt in to_check + never_ran:
            attempt_enqueue(attempt, task=CHECK_ATTEMPT_TASK)
    return {"checks": len(to_check), "never_ran": len(never_ran)}


def attempt_check(*, attempt_id: str) -> str:
    """Asks the provider what became of an attempt (by our reference) and applies the answer."""
    with transaction.atomic():
        payment = payment_lock_with_attempts(attempt_id=attempt_id)
        if payment is None:
            return "no_such_attempt"
        bind_payment(payment.id, merchant_id=payment.merchant_id)
        attempt = next(a for a in payment.known_attempts or [] if a.pk == attempt_id)
        # Its execute task never ran (lost message): run it now, on this provider's worker.
        run_now = attempt.outcome == AttemptOutcome.PENDING and attempt.started_at is None
        if not run_now:
            late_watch = (
                attempt.outcome == AttemptOutcome.FAILED and payment.payment_method_type == PaymentMethodType.UPI
            )
            if attempt.outcome not in OPEN and not late_watch:
                return "already_finished"
            attempt.checks += 1
            attempt.locked_at = None if attempt.outcome != AttemptOutcome.PENDING else attempt.locked_at
            attempt.save(update_fields=["checks", "locked_at"])
        connector_name = attempt.connector or attempt_connector_default(payment, attempt.operation)
        kind: Literal["payment", "refund"] = "refund" if attempt.operation == AttemptOperation.REFUND else "payment"
        reference = attempt_id
        expected: int | None = attempt.amount
        if attempt.operation in (AttemptOperation.CAPTURE, AttemptOperation.VOID):
            # A capture or void has no reference of its own at the provider: the charge it acts on tells.
            authorization = attempt_authorization(payment.known_attempts or [])
            reference = authorization.id if authorization is not None else attempt_id
            expected = None
        currency = payment.currency
    if run_now:
        return attempt_execute(attempt_id=attempt_id)
    try:
        result: ProviderResult | ProviderMismatchError = registry.connector_get(connector_name).status(
            reference, kind=kind, expected_amount=expected, expected_currency=currency
        )
    except ProviderMismatchError as exc:
        result = exc
    if isinstance(result, ProviderResult) and result.outcome is Outcome.NOT_SENT:
        # The lookup itself never reached the provider: that says nothing about the attempt.
        result = ProviderResult(
            outcome=Outcome.UNKNOWN,
            connector=result.connector,
            operation="status",
            reference=attempt_id,
            error=f"status lookup not sent: {result.error}",
        )
    return attempt_result_apply(attempt_id=attempt_id, result=result, source="status")
