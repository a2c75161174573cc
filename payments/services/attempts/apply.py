"""Step 3: the one service that applies a provider outcome to an attempt, however it was learned.

The worker's call, a status lookup (the janitor), an inbound provider webhook: each hands a typed
:class:`ProviderResult` to :func:`attempt_result_apply`, which locks the payment and its attempts once (payment
first, then attempts by id) and passes those objects down. In one transaction it checks the evidence, closes the
attempt, moves the payment's state machine, prices and posts the capture, and writes the history and outbox rows;
each changed row is saved once, and a row nothing happened to is not written at all.

What decides the result is the evidence and the payment, never the order it arrives in:

* **Evidence is checked, never trusted.** Reference, currency and amount must be those of the attempt (for a
  capture or void, those of the authorization it acts on). A mismatch is never applied: the attempt is flagged for
  a person and, unless the mismatch came from the status API itself, the provider's status API is asked.
* **The capture method says what an authorization means.** With automatic capture the provider captures right
  after it authorizes, so ``authorized`` alone is not the outcome: the attempt stays open until ``captured`` (or a
  lookup) says so. With manual capture it is the outcome: the payment waits for the merchant's capture.
* **Evidence about the charge finds the attempt it settles.** A provider reports a charge under the reference of
  the authorization that created it; ``captured`` or ``voided`` then settles our open capture or void attempt.
* **Only forward.** A finished attempt is never reopened; the same evidence twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from payments.connectors.base import Outcome, ProviderMismatchError, ProviderResult, ProviderState
from payments.enums import (
    AttemptOperation,
    AttemptOutcome,
    CaptureMethod,
    LateSuccessPolicy,
    PaymentStatus,
)
from payments.models import Payment, PaymentAttempt
from payments.next_actions import next_action_representation
from payments.services import payments as payment_services
from payments.services import refunds as refund_services
from payments.services.attempts import retries
from payments.services.attempts.claim import attempt_authorization
from payments.services.attempts.queue import CHECK_ATTEMPT_TASK, attempt_enqueue
from payments.services.funds import funds_capture_post, funds_refund_post
from payments.services.pricing import pricing_annotations, pricing_fee_of

logger = structlog.get_logger(__name__)

OPEN = (AttemptOutcome.PENDING, AttemptOutcome.UNKNOWN)


@dataclass(frozen=True)
class Evidence:
    """What the provider said, where we learned it, and the payment it is about (locked, attempts loaded)."""

    payment: Payment
    result: ProviderResult
    source: str  # call | status | webhook:<type>

    @property
    def attempts(self) -> list[PaymentAttempt]:
        return self.payment.known_attempts or []

    @property
    def from_webhook(self) -> bool:
        return self.source.startswith("webhook")

    def summary(self) -> dict[str, Any]:
        result = self.result
        return {
            "source": self.source,
            "outcome": str(result.outcome),
            "state": str(result.state) if result.state else None,
            "provider_reference": result.provider_reference,
            "amount": result.amount,
            "amount_captured": result.amount_captured,
            "currency": result.currency,
            "fee": result.fee,
            "decline_code": result.decline_code,
            "error": result.error,
            "http_status": result.http_status,
            "late_success": result.late_success,
        }


def attempt_result_apply(*, attempt_id: str, result: ProviderResult | ProviderMismatchError, source: str) -> str:
    """Locks the attempt's payment and its attempts and applies ``result`` (see the module's docstring); returns
    what happened, for logs and tests."""
    with transaction.atomic():
        payment = payment_services.payment_lock_with_attempts(attempt_id=attempt_id, annotate=pricing_annotations())
        if payment is None:
            return "no_such_attempt"
        attempt = next(a for a in payment.known_attempts or [] if a.pk == attempt_id)
        applied = attempt_outcome_apply(payment=payment, attempt=attempt, result=result, source=source)
    provider = result.result if isinstance(result, ProviderMismatchError) else result
    logger.info(
        "attempt_result_applied",
        attempt_id=attempt_id,
        payment_id=payment.id,
        connector=provider.connector,
        source=source,
        provider_outcome=str(provider.outcome),
        applied=applied,
    )
    return applied


def attempt_outcome_apply(
    *, payment: Payment, attempt: PaymentAttempt, result: ProviderResult | ProviderMismatchError, source: str
) -> str:
    """Applies a provider's result to ``attempt``. The caller holds ``payment`` and every one of its attempts
    locked (``payment.known_attempts``, from ``payment_lock_with_attempts``) inside its transaction."""
    if payment.known_attempts is None:
        payment.known_attempts = [attempt]
    held = list(payment.known_attempts)
    before = {a.pk: _fields(a) for a in held}
    if isinstance(result, ProviderMismatchError):
        evidence = Evidence(payment, result.result, source)
        outcome = _refuse(evidence, attempt, f"provider_mismatch: {result}")
    else:
        evidence = Evidence(payment, result, source)
        problem = _evidence_problem(evidence, attempt)
        outcome = (
            _refuse(evidence, attempt, problem)
            if problem
            else _HANDLERS[AttemptOperation(attempt.operation)](evidence, attempt)
        )
    for changed in held:
        if changed.pk not in before:
            continue  # created by this apply, already saved
        fields = [name for name, value in _fields(changed).items() if before[changed.pk][name] != value]
        if fields:
            changed.save(update_fields=fields)
    return outcome


def _fields(attempt: PaymentAttempt) -> dict[str, Any]:
    return {field.attname: getattr(attempt, field.attname) for field in attempt._meta.concrete_fields}


# --- evidence ------------------------------------------------------------------------------------------------------
def _evidence_problem(evidence: Evidence, attempt: PaymentAttempt) -> str:
    """Why the result cannot be about this attempt, or ``""``. A result that carries no facts (unknown, not sent,
    not found) has nothing to check; a result that moves money must state its currency and amount."""
    result, payment = evidence.result, evidence.payment
    if result.outcome in (Outcome.UNKNOWN, Outcome.NOT_SENT, Outcome.NOT_FOUND):
        return ""
    references, amount, known = {attempt.id}, attempt.amount, attempt.provider_reference
    if attempt.operation in (AttemptOperation.CAPTURE, AttemptOperation.VOID):
        authorization = attempt_authorization(evidence.attempts)
        if authorization is not None:
            # The provider reports the charge under the authorization's reference, id and amount.
            references.add(authorization.id)
            amount, known = authorization.amount, authorization.provider_reference
    if result.reference not in references:
        return f"reference {result.reference!r} is not {attempt.id}"
    if known and result.provider_reference and result.provider_reference != known:
        return f"provider reference {result.provider_reference!r}, expected {known!r}"
    moves_money = result.outcome in (Outcome.SUCCEEDED, Outcome.REQUIRES_ACTION, Outcome.PENDING)
    if result.currency is None and moves_money:
        return "no currency in the provider's answer"
    if result.currency is not None and result.currency != payment.currency:
        return f"currency {result.currency!r}, expected {payment.currency!r}"
    if result.amount is None and moves_money:
        return "no amount in the provider's answer"
    if result.amount is not None and result.amount != amount:
        return f"amount {result.amount}, expected {amount}"
    if result.outcome is Outcome.SUCCEEDED and result.state is ProviderState.CAPTURED:
        captured = _capture_expected(payment, attempt)
        if captured is not None and result.amount_captured != captured:
            return f"amount captured {result.amount_captured}, expected {captured}"
    return ""


def _capture_expected(payment: Payment, attempt: PaymentAttempt) -> int | None:
    if attempt.operation == AttemptOperation.CAPTURE:
        return attempt.amount
    if attempt.operation == AttemptOperation.AUTHORIZE and payment.capture_method == CaptureMethod.AUTOMATIC:
        return attempt.amount
    return None  # a manual authorization's capture is checked against the capture attempt it settles


def _refuse(evidence: Evidence, attempt: PaymentAttempt, problem: str) -> str:
    """Evidence that does not match is never applied: flagged for a person, and the status API asked."""
    if attempt.outcome in OPEN:
        attempt.locked_at = None
        if evidence.source == "status":
            # The provider's own status API disagrees with us: a person decides (the admin's "check now" asks again).
            attempt.outcome = AttemptOutcome.UNKNOWN
            attempt.next_check_at = None
        else:
            attempt.outcome = AttemptOutcome.UNKNOWN if evidence.source == "call" else attempt.outcome
            attempt_enqueue(attempt, task=CHECK_ATTEMPT_TASK)
    attempt.response_summary = evidence.summary()
    return _flag(attempt, f"evidence_mismatch ({evidence.source}): {problem}")


# --- the attempt's own record ----------------------------------------------------------------------------------
def _note(evidence: Evidence, attempt: PaymentAttempt) -> None:
    attempt.provider_reference = evidence.result.provider_reference or attempt.provider_reference
    attempt.response_summary = evidence.summary()


def _close(
    evidence: Evidence, attempt: PaymentAttempt, outcome: str, *, code: str = "", message: str | None = ""
) -> None:
    _note(evidence, attempt)
    attempt.outcome = outcome
    attempt.failure_code = code[:64]
    attempt.failure_message = (message or "")[:500]
    attempt.locked_at = None
    attempt.next_check_at = None
    attempt.finished_at = timezone.now()
    if outcome == AttemptOutcome.SUCCEEDED and evidence.result.fee is not None:
        attempt.fee = evidence.result.fee


def _unknown(evidence: Evidence, attempt: PaymentAttempt) -> str:
    """Nobody knows yet: ask the provider again later, on the schedule, and after it, ask a person as well. A
    webhook that is not the last word leaves an attempt in flight to its worker."""
    if attempt.outcome not in OPEN:
        return "already_applied"
    _note(evidence, attempt)
    if evidence.from_webhook:
        return "not_final_yet"
    schedule = settings.PSP_UNKNOWN_RECHECK_SCHEDULE
    attempt.outcome = AttemptOutcome.UNKNOWN
    attempt.locked_at = None
    attempt.next_check_at = timezone.now() + timedelta(seconds=schedule[min(attempt.checks, len(schedule) - 1)])
    if attempt.checks >= len(schedule) and not attempt.review_reason:
        attempt.review_reason = (
            f"unresolved: the provider could not confirm the outcome after {attempt.checks} checks "
            f"({evidence.result.error})"
        )
    return "unknown"


def _flag(attempt: PaymentAttempt, reason: str) -> str:
    attempt.review_reason = reason[:500]
    logger.error("attempt_needs_review", attempt_id=attempt.id, payment_id=attempt.payment_id, reason=reason)
    return "flagged"


def _post_capture(
    evidence: Evidence, attempt: PaymentAttempt, *, amount: int, fee: int | None = None, save: bool = True
) -> None:
    """The capture on the books: the provider owes us ``amount``; the merchant gets it less the platform's fee,
    pending until its release. ``save=False`` when a transition that follows saves the payment anyway."""
    payment = evidence.payment
    if fee is None:
        fee = pricing_fee_of(payment, amount=amount)
    funds_capture_post(
        payment=payment,
        connector=attempt.connector,
        gross=amount,
        fee=fee,
        occurred_at=timezone.now(),  # ours: the provider's clock dates nothing on our books
        provider_occurred_at=evidence.result.occurred_at,
        provider_reference=evidence.result.provider_reference or attempt.provider_reference,
        save=save,
    )


# --- authorizations ------------------------------------------------------------------------------------------------
def _authorize(evidence: Evidence, attempt: PaymentAttempt) -> str:
    result, payment = evidence.result, evidence.payment
    outcome = result.outcome
    if outcome in (Outcome.UNKNOWN, Outcome.PENDING) or (outcome is Outcome.SUCCEEDED and result.state is None):
        return _unknown(evidence, attempt)
    if outcome in (Outcome.NOT_SENT, Outcome.NOT_FOUND):
        return _never_happened(evidence, attempt)
    if outcome is Outcome.REQUIRES_ACTION:
        return _requires_action(evidence, attempt)
    if outcome is Outcome.FAILED:
        return _authorize_failed(evidence, attempt)
    if result.state is ProviderState.AUTHORIZED:
        return _authorized(evidence, attempt)
    if result.state is ProviderState.CAPTURED and payment.capture_method == CaptureMethod.AUTOMATIC:
        return _captured(evidence, attempt)
    if result.state in (ProviderState.CAPTURED, ProviderState.VOIDED):
        return _charge_moved_on(evidence, attempt)
    if attempt.outcome not in OPEN:
        return "already_applied"
    _close(evidence, attempt, AttemptOutcome.SUCCEEDED)
    return f"provider_state_{result.state}"


def _never_happened(evidence: Evidence, attempt: PaymentAttempt) -> str:
    """The provider provably never saw this attempt: fail it and try the next connector, or later, or give up."""
    payment, outcome = evidence.payment, evidence.result.outcome
    if attempt.outcome == AttemptOutcome.FAILED and outcome is Outcome.NOT_FOUND:
        # A refusal at creation (never created) confirmed by a lookup: nothing more to watch for.
        attempt.next_check_at = None
        return "already_applied"
    if attempt.outcome not in OPEN or attempt.provider_reference:
        return _flag(attempt, f"provider says {outcome} about an attempt it answered before")
    _close(evidence, attempt, AttemptOutcome.FAILED, code=str(outcome), message=evidence.result.error)
    if payment.status != PaymentStatus.PROCESSING:
        return f"not_sent_while_{payment.status}"
    next_step = retries.authorization_elsewhere(payment=payment)
    if next_step is not None:
        return next_step
    payment_services.payment_mark_failed(
        payment=payment,
        attempt=attempt,
        code="provider_unavailable",
        message="No payment provider could be reached; the payment was not charged.",
    )
    return "failed_provider_unavailable"


def _requires_action(evidence: Evidence, attempt: PaymentAttempt) -> str:
    payment = evidence.payment
    if attempt.outcome not in OPEN:
        return "already_applied"
    _note(evidence, attempt)
    attempt.locked_at = None
    attempt.next_check_at = timezone.now() + timedelta(seconds=settings.PSP_ACTION_POLL_SECONDS)
    if can_proceed(payment.mark_requires_action):
        payment_services.payment_mark_requires_action(
            payment=payment, attempt=attempt, next_action=next_action_representation(evidence.result.next_action)
        )
        return "requires_action"
    return "still_waiting"


def _authorize_failed(evidence: Evidence, attempt: PaymentAttempt) -> str:
    payment, result = evidence.payment, evidence.result
    code = "payment_expired" if result.state is ProviderState.EXPIRED else result.decline_code or "provider_declined"
    message = result.decline_message or "The provider declined the payment."
    if attempt.outcome == AttemptOutcome.SUCCEEDED:
        return _flag(attempt, f"provider reports {code} for an attempt it had reported succeeded")
    if attempt.outcome == AttemptOutcome.FAILED:
        retries.late_success_watch(payment=payment, attempt=attempt)
        return "already_applied"
    _close(evidence, attempt, AttemptOutcome.FAILED, code=code, message=message)
    if result.retryable and payment.status == PaymentStatus.PROCESSING:
        delay = retries.authorization_after_decline(payment=payment, connector=attempt.connector)
        if delay is not None:
            return f"retry_in_{delay:.1f}s"
    retries.late_success_watch(payment=payment, attempt=attempt)
    if can_proceed(payment.mark_failed):
        payment_services.payment_mark_failed(payment=payment, attempt=attempt, code=code, message=message)
        return "failed"
    return f"failed_while_{payment.status}"


def _authorized(evidence: Evidence, attempt: PaymentAttempt) -> str:
    payment = evidence.payment
    if attempt.outcome == AttemptOutcome.SUCCEEDED:
        return "already_applied"  # an authorization reported after what it led to (captured, voided): stale
    if attempt.outcome == AttemptOutcome.FAILED:
        return _flag(attempt, "authorized at the provider after we closed the attempt as failed: void it")
    if payment.capture_method == CaptureMethod.AUTOMATIC:
        # The provider captures right after it authorizes: the capture is the outcome, not this.
        outcome = _unknown(evidence, attempt)
        return "authorized_awaiting_capture" if outcome == "not_final_yet" else outcome
    _close(evidence, attempt, AttemptOutcome.SUCCEEDED)
    if can_proceed(payment.mark_requires_capture):
        payment_services.payment_mark_requires_capture(payment=payment, attempt=attempt)
        return "requires_capture"
    return f"authorized_but_payment_{payment.status}"


def _captured(evidence: Evidence, attempt: PaymentAttempt) -> str:
    """Authorized and captured in one (automatic capture, UPI): the payment succeeded, or succeeded late."""
    payment = evidence.payment
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
        return _late_success(evidence, attempt)
    if attempt.outcome == AttemptOutcome.SUCCEEDED and payment.status == PaymentStatus.SUCCEEDED:
        return "already_applied"
    if attempt.outcome == AttemptOutcome.FAILED or not can_proceed(payment.mark_succeeded):
        return _flag(
            attempt, f"captured at the provider while the attempt is {attempt.outcome}, payment {payment.status}"
        )
    _close(evidence, attempt, AttemptOutcome.SUCCEEDED)
    _post_capture(evidence, attempt, amount=payment.amount, save=False)  # the transition saves the payment
    payment_services.payment_mark_succeeded(payment=payment, attempt=attempt, upi_rrn=evidence.result.rrn or "")
    return "succeeded"


def _late_success(evidence: Evidence, attempt: PaymentAttempt) -> str:
    """Money arrived after we gave up on the payment: on the books and visible to the merchant either way; refunded
    (a refund object with its events) unless the merchant's policy says fulfil (the payment then succeeds, late)."""
    payment, result = evidence.payment, evidence.result
    if attempt.outcome == AttemptOutcome.SUCCEEDED:
        return "already_applied"
    policy = payment.merchant.upi_late_success_policy
    _close(evidence, attempt, AttemptOutcome.SUCCEEDED)
    attempt.review_reason = f"late_success: the provider reported success after the payment was {payment.status}; " + (
        "refunded automatically" if policy == LateSuccessPolicy.REFUND else "merchant policy says fulfil"
    )
    # The provider holds the money either way: it is on the books until it is refunded (no fee on money returned).
    fee = 0 if policy == LateSuccessPolicy.REFUND else None
    _post_capture(evidence, attempt, amount=attempt.amount, fee=fee, save=False)  # the transition saves the payment
    if policy == LateSuccessPolicy.FULFIL:
        payment_services.payment_succeed_late(payment=payment, attempt=attempt, upi_rrn=result.rrn or "")
        return "late_success_kept"
    payment_services.payment_record_late_success(payment=payment, attempt=attempt, upi_rrn=result.rrn or "")
    refund_services.refund_late_success_open(payment=payment, connector=attempt.connector)
    return "late_success_refunding"


def _charge_moved_on(evidence: Evidence, authorization: PaymentAttempt) -> str:
    """The charge was captured or voided (reported under the authorization's reference): settles our open capture
    or void attempt, whichever order the reports come in."""
    result = evidence.result
    operation = AttemptOperation.CAPTURE if result.state is ProviderState.CAPTURED else AttemptOperation.VOID
    if authorization.outcome in OPEN:
        # Whatever became of it, it was authorized first; but we act on an authorization only from requires_capture.
        _close(evidence, authorization, AttemptOutcome.SUCCEEDED)
        return _flag(authorization, f"the charge was {result.state} before we knew it was authorized")
    ours = [a for a in evidence.attempts if a.operation == operation]
    target = next((a for a in reversed(ours) if a.outcome in OPEN), None)
    if target is None:
        if any(a.outcome == AttemptOutcome.SUCCEEDED for a in ours):
            return "already_applied"
        return _flag(authorization, f"the provider says the charge was {result.state}; we never asked for that")
    problem = _evidence_problem(evidence, target)
    return _refuse(evidence, target, problem) if problem else _on_authorization(evidence, target)


# --- captures and voids of an authorization we hold --------------------------------------------------------------
def _on_authorization(evidence: Evidence, attempt: PaymentAttempt) -> str:
    """A capture or void: done, still to do (send again, same key), or refused."""
    result = evidence.result
    done = ProviderState.CAPTURED if attempt.operation == AttemptOperation.CAPTURE else ProviderState.VOIDED
    if result.outcome is Outcome.NOT_SENT:
        return _send_again(evidence, attempt)
    if result.outcome in (Outcome.UNKNOWN, Outcome.PENDING, Outcome.NOT_FOUND):
        return _unknown(evidence, attempt)
    if attempt.outcome not in OPEN:
        return "already_applied"
    if result.outcome is Outcome.SUCCEEDED and result.state is done:
        _close(evidence, attempt, AttemptOutcome.SUCCEEDED)
        if attempt.operation == AttemptOperation.VOID:
            return "voided"
        authorization = attempt_authorization(evidence.attempts)
        if authorization is not None and result.fee is not None:
            # The provider prices a charge when it is captured, and settles it under the authorization's
            # reference: that is where reconciliation finds the provider's fee.
            authorization.fee = result.fee
        _post_capture(evidence, attempt, amount=attempt.amount)
        return "captured"
    if result.operation == "status" and result.state is ProviderState.AUTHORIZED:
        # The lookup found the authorization untouched: our call never landed. Sending it again is safe.
        return _send_again(evidence, attempt)
    if attempt.operation == AttemptOperation.VOID and result.error == "no_authorization":
        # Nothing is held at the provider (a UPI request that was never approved expires there by itself).
        _close(evidence, attempt, AttemptOutcome.FAILED, code="nothing_to_void")
        return "nothing_to_void"
    _close(evidence, attempt, AttemptOutcome.FAILED, code=result.decline_code or f"{attempt.operation}_failed")
    return _flag(attempt, f"{attempt.operation} refused by the provider ({result.decline_code or result.state})")


def _send_again(evidence: Evidence, attempt: PaymentAttempt) -> str:
    _note(evidence, attempt)
    delay = retries.attempt_send_again(attempt=attempt)
    if delay is None:
        return _flag(attempt, f"{attempt.operation} could not reach {attempt.connector}: {evidence.result.error}")
    return f"retry_in_{delay:.1f}s"


# --- refunds ---------------------------------------------------------------------------------------------------------
def _refund(evidence: Evidence, attempt: PaymentAttempt) -> str:
    result, payment = evidence.result, evidence.payment
    if result.outcome is Outcome.NOT_SENT:
        return _send_again(evidence, attempt)
    if result.outcome is Outcome.NOT_FOUND and result.operation == "status" and attempt.outcome in OPEN:
        # The lookup by our reference proves the provider never received it (a call that hung or died before
        # the provider acted): send it again, same key. Left unknown, it would wait for a person forever.
        return _send_again(evidence, attempt)
    if result.outcome in (Outcome.UNKNOWN, Outcome.NOT_FOUND):
        return _unknown(evidence, attempt)
    if attempt.outcome not in OPEN:
        return "already_applied"
    if result.outcome is Outcome.PENDING:
        return _refund_pending(evidence, attempt)
    succeeded = result.outcome is Outcome.SUCCEEDED
    if attempt.refund_id is not None:
        # A merchant's refund (its ledger posting was made when it was created): success only closes it, failure
        # gives the money back.
        code = "" if succeeded else result.decline_code or result.error or "refund_failed"
        outcome = AttemptOutcome.SUCCEEDED if succeeded else AttemptOutcome.FAILED
        _close(evidence, attempt, outcome, code=code, message=None if succeeded else result.decline_message)
        return refund_services.refund_attempt_apply(
            payment=payment, attempt=attempt, succeeded=succeeded, failure_reason=code
        )
    if succeeded:
        # The executor's own refund of a late success.
        _close(evidence, attempt, AttemptOutcome.SUCCEEDED)
        funds_refund_post(
            payment=payment,
            refund_id=attempt.id,
            connector=attempt.connector,
            amount=attempt.amount,
            occurred_at=timezone.now(),
            provider_occurred_at=result.occurred_at,
            provider_reference=result.provider_reference,
        )
        return "refunded"
    _close(evidence, attempt, AttemptOutcome.FAILED, code=result.decline_code or "refund_failed")
    return _flag(attempt, f"automatic refund failed ({result.decline_code}): refund by hand")


def _refund_pending(evidence: Evidence, attempt: PaymentAttempt) -> str:
    """Asked again on the recheck schedule, then left to a person and the provider's webhook: a refund that stays
    pending is never polled without end."""
    _note(evidence, attempt)
    attempt.locked_at = None
    schedule = settings.PSP_UNKNOWN_RECHECK_SCHEDULE
    if attempt.checks >= len(schedule):
        attempt.next_check_at = None
        return _flag(attempt, f"refund still pending at the provider after {attempt.checks} checks")
    attempt.next_check_at = timezone.now() + timedelta(seconds=schedule[attempt.checks])
    return "refund_pending"


_HANDLERS = {
    AttemptOperation.AUTHORIZE: _authorize,
    AttemptOperation.CAPTURE: _on_authorization,
    AttemptOperation.VOID: _on_authorization,
    AttemptOperation.REFUND: _refund,
}
