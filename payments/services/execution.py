"""The executor: carries a payment attempt to the provider and its outcome back, without ever charging twice.

Every attempt runs the same three steps (correctness-checklist, Provider calls):

1. **claim** (one transaction): lock the attempt, choose its connector, stamp ``locked_at``; commit.
2. **call** the provider outside any transaction, with the attempt's persisted idempotency key and the attempt id
   as our reference.
3. **apply** (one transaction): the payment's transition through ``payments.services.payments``, the ledger
   posting on capture and the outbox rows, together.

An ``unknown`` outcome (timeout, 5xx, lost response) is never failed: the janitor asks the provider by our
reference on ``PSP_UNKNOWN_RECHECK_SCHEDULE`` and applies what it learns exactly as if the call had answered. A
different connector is tried only when the provider provably never saw the attempt (``not_sent``: refused
connection or open circuit; ``not_found`` from a status lookup), always as a new attempt with its own key and
reference, so each provider sees each reference at most once. Webhooks from providers go through the same
``attempt_result_apply`` as answers and status lookups, and it only ever moves a payment forward.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import segno
import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django_fsm import can_proceed

from payments.connectors import registry
from payments.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    Outcome,
    PaymentRequest,
    ProviderMismatchError,
    ProviderResult,
    ProviderState,
    RefundRequest,
    UpiCollectRequest,
    UpiIntentRequest,
    VoidRequest,
)
from payments.connectors.retry import RetryPolicy
from payments.enums import (
    AttemptOperation,
    AttemptOutcome,
    LateSuccessPolicy,
    PaymentMethodType,
    PaymentStatus,
    UpiFlow,
)
from payments.models import MerchantPricing, Payment, PaymentAttempt
from payments.services import payments as payment_services
from payments.services import refunds as refund_services
from payments.services.attempt_queue import CHECK_ATTEMPT_TASK, attempt_connector_default, attempt_enqueue
from payments.services.funds import funds_capture_post, funds_refund_post

logger = structlog.get_logger(__name__)

_OPEN = (AttemptOutcome.PENDING, AttemptOutcome.UNKNOWN)
_rng = random.Random()  # noqa: S311 - retry jitter, not a secret


# --- pricing --------------------------------------------------------------------------------------------------
def pricing_fee(*, merchant_id: str, payment_method_type: str, amount: int) -> int:
    """The platform's fee for a payment: basis points (halves rounded up) plus a fixed part, never above amount."""
    row = MerchantPricing.objects.filter(merchant_id=merchant_id, payment_method_type=payment_method_type).first()
    if row is not None:
        bps, fixed = row.fee_bps, row.fee_fixed
    else:
        default = settings.PRICING_DEFAULTS.get(payment_method_type, {"fee_bps": 0, "fee_fixed": 0})
        bps, fixed = int(default["fee_bps"]), int(default["fee_fixed"])
    return min(amount, (2 * amount * bps + 10_000) // 20_000 + fixed)


# --- 1. claim -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    attempt_id: str
    payment_id: str
    connector: str
    operation: str
    request: Any  # one of the connector request dataclasses, or None when the call cannot be made


def _attempt_claim(attempt_id: str) -> Claim | None:
    with transaction.atomic():
        attempt = (
            PaymentAttempt.objects.select_for_update(of=("self",))
            .select_related("payment")
            .filter(pk=attempt_id)
            .first()
        )
        if attempt is None:
            logger.warning("attempt_missing", attempt_id=attempt_id)
            return None
        if attempt.outcome != AttemptOutcome.PENDING or attempt.locked_at is not None or attempt.started_at:
            # Finished, running elsewhere, or sent before and in doubt: the janitor owns it now, never a resend.
            return None
        payment = attempt.payment
        attempt.connector = attempt.connector or attempt_connector_default(payment, attempt.operation)
        attempt.locked_at = attempt.started_at = timezone.now()
        request = _provider_request(attempt, payment)
        attempt.request_summary = {
            "connector": attempt.connector,
            "operation": attempt.operation,
            "reference": attempt.id,
            "amount": attempt.amount,
            "currency": payment.currency,
            "request": type(request).__name__ if request is not None else None,
        }
        attempt.save(update_fields=["connector", "locked_at", "started_at", "request_summary"])
        return Claim(attempt.id, payment.id, attempt.connector, attempt.operation, request)


def _authorization(payment: Payment) -> PaymentAttempt | None:
    return (
        payment.attempts.filter(operation=AttemptOperation.AUTHORIZE, outcome=AttemptOutcome.SUCCEEDED)
        .exclude(provider_reference="")
        .order_by("-id")
        .first()
    )


def _provider_request(attempt: PaymentAttempt, payment: Payment) -> Any:
    key, reference, amount, currency = attempt.idempotency_key, attempt.id, attempt.amount, payment.currency
    if attempt.operation == AttemptOperation.AUTHORIZE:
        if payment.payment_method_type == PaymentMethodType.UPI:
            if payment.upi_flow == UpiFlow.COLLECT:
                return UpiCollectRequest(
                    reference=reference,
                    idempotency_key=key,
                    amount=amount,
                    vpa=payment.upi_vpa,
                    currency=currency,
                    expires_in=payment.upi_expires_in or 600,
                    description=payment.description[:80],
                )
            return UpiIntentRequest(
                reference=reference,
                idempotency_key=key,
                amount=amount,
                currency=currency,
                expires_in=payment.upi_expires_in or 600,
                description=payment.description[:80],
                payer_vpa=str(payment.metadata.get("sandbox_payer_vpa", "")) or None,
                auto_approve=payment.metadata.get("sandbox_auto_approve") == "true",
            )
        token = payment.card_tokens.get(attempt.connector)
        if not token:
            return None
        return AuthorizeRequest(
            reference=reference,
            idempotency_key=key,
            amount=amount,
            currency=currency,
            token=str(token),
            capture=payment.capture_method == "automatic",
            description=payment.description,
        )
    authorization = _authorization(payment)
    if authorization is None:
        return None
    target = authorization.provider_reference
    if attempt.operation == AttemptOperation.CAPTURE:
        return CaptureRequest(reference, key, target, amount, currency)
    if attempt.operation == AttemptOperation.VOID:
        return VoidRequest(reference, key, target, amount, currency)
    reason = attempt.refund.reason if attempt.refund_id is not None and attempt.refund else "late_success"
    return RefundRequest(reference, key, target, amount, currency, reason=reason)


# --- 2. call --------------------------------------------------------------------------------------------------
def _call(claim: Claim) -> ProviderResult | ProviderMismatchError:
    if claim.request is None:
        # No token for this acquirer (or nothing to capture): nothing was sent, so moving on is safe.
        return ProviderResult(
            outcome=Outcome.NOT_SENT,
            connector=claim.connector,
            operation=claim.operation,
            reference=claim.attempt_id,
            error="no_provider_request",
        )
    connector = registry.connector_get(claim.connector)
    try:
        if isinstance(claim.request, AuthorizeRequest | UpiIntentRequest | UpiCollectRequest):
            payment_request: PaymentRequest = claim.request
            return connector.authorize(payment_request)
        if isinstance(claim.request, CaptureRequest):
            return connector.capture(claim.request)
        if isinstance(claim.request, VoidRequest):
            return connector.void(claim.request)
        return connector.refund(claim.request)
    except ProviderMismatchError as exc:
        return exc


def attempt_execute(*, attempt_id: str) -> str:
    """The ``payments.execute_attempt`` task's body: claim, call, apply. Returns what happened, for logs."""
    claim = _attempt_claim(attempt_id)
    if claim is None:
        return "skipped"
    result = _call(claim)
    return attempt_result_apply(attempt_id=attempt_id, result=result, source="call")


# --- 3. apply -------------------------------------------------------------------------------------------------
def attempt_result_apply(*, attempt_id: str, result: ProviderResult | ProviderMismatchError, source: str) -> str:
    """Applies what the provider said about an attempt (its answer, a status lookup or a webhook), idempotently."""
    with transaction.atomic():
        payment_id = PaymentAttempt.objects.filter(pk=attempt_id).values_list("payment_id", flat=True).first()
        if payment_id is None:
            return "no_such_attempt"
        # The payment first, then the attempt: the order every payment service locks in.
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        if isinstance(result, ProviderMismatchError):
            return _flag(attempt, f"provider_mismatch: {result}", outcome=AttemptOutcome.UNKNOWN)
        attempt.response_summary = {"source": source, **_summary(result)}
        if result.fee is not None and result.outcome is Outcome.SUCCEEDED:
            attempt.fee = result.fee
        handler = {
            AttemptOperation.AUTHORIZE: _apply_authorize,
            AttemptOperation.CAPTURE: _apply_capture,
            AttemptOperation.VOID: _apply_void,
            AttemptOperation.REFUND: _apply_refund,
        }[AttemptOperation(attempt.operation)]
        outcome = handler(payment, attempt, result)
    logger.info(
        "attempt_result_applied",
        attempt_id=attempt_id,
        payment_id=payment_id,
        connector=result.connector,
        source=source,
        provider_outcome=str(result.outcome),
        applied=outcome,
    )
    return outcome


def _summary(result: ProviderResult) -> dict[str, Any]:
    return {
        "outcome": str(result.outcome),
        "state": str(result.state) if result.state else None,
        "provider_reference": result.provider_reference,
        "amount": result.amount,
        "fee": result.fee,
        "decline_code": result.decline_code,
        "error": result.error,
        "http_status": result.http_status,
        "late_success": result.late_success,
    }


def _finished(attempt: PaymentAttempt) -> bool:
    return attempt.outcome not in _OPEN


def _apply_authorize(payment: Payment, attempt: PaymentAttempt, result: ProviderResult) -> str:
    outcome = result.outcome
    if outcome in (Outcome.UNKNOWN, Outcome.PENDING) or (outcome is Outcome.SUCCEEDED and result.state is None):
        return _unknown(attempt, result)
    if outcome in (Outcome.NOT_SENT, Outcome.NOT_FOUND):
        if _finished(attempt) or attempt.provider_reference:
            return _flag(attempt, f"provider says {outcome} about an attempt it answered before")
        return _never_happened(payment, attempt, result)
    if outcome is Outcome.REQUIRES_ACTION:
        return _requires_action(payment, attempt, result)
    if outcome is Outcome.FAILED:
        return _authorize_failed(payment, attempt, result)
    # SUCCEEDED: authorized, captured, or (a late report) voided.
    if result.state is ProviderState.CAPTURED:
        return _captured_on_authorize(payment, attempt, result)
    if result.state is ProviderState.AUTHORIZED:
        if attempt.outcome == AttemptOutcome.SUCCEEDED:
            return "already_applied"  # an authorization reported after the capture it led to (out of order)
        if can_proceed(payment.mark_requires_capture):
            _close(attempt, AttemptOutcome.SUCCEEDED, result)
            payment_services.payment_mark_requires_capture(
                payment_id=payment.id,
                attempt_id=attempt.id,
                provider_reference=result.provider_reference or "",
                connector=attempt.connector,
            )
            return "requires_capture"
        _close(attempt, AttemptOutcome.SUCCEEDED, result)
        return f"authorized_but_payment_{payment.status}"
    _close(attempt, AttemptOutcome.SUCCEEDED, result)
    return f"provider_state_{result.state}"


def _captured_on_authorize(payment: Payment, attempt: PaymentAttempt, result: ProviderResult) -> str:
    late = payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED)
    if attempt.outcome == AttemptOutcome.SUCCEEDED and not late and payment.status == PaymentStatus.SUCCEEDED:
        return "already_succeeded"
    if late:
        return _late_success(payment, attempt, result)
    if not can_proceed(payment.mark_succeeded):
        return _flag(attempt, f"captured at the provider while the payment is {payment.status}")
    _close(attempt, AttemptOutcome.SUCCEEDED, result)
    payment_services.payment_mark_succeeded(
        payment_id=payment.id,
        attempt_id=attempt.id,
        provider_reference=result.provider_reference or "",
        connector=attempt.connector,
        upi_rrn=result.rrn or "",
    )
    _post_capture(payment, attempt, result, amount=payment.amount)
    return "succeeded"


def _post_capture(
    payment: Payment, attempt: PaymentAttempt, result: ProviderResult, *, amount: int, fee: int | None = None
) -> None:
    if fee is None:
        fee = pricing_fee(
            merchant_id=payment.merchant_id, payment_method_type=payment.payment_method_type, amount=amount
        )
    funds_capture_post(
        payment=payment,
        connector=attempt.connector,
        gross=amount,
        fee=fee,
        occurred_at=result.occurred_at or timezone.now(),
        provider_reference=result.provider_reference,
    )


def _requires_action(payment: Payment, attempt: PaymentAttempt, result: ProviderResult) -> str:
    attempt.provider_reference = result.provider_reference or attempt.provider_reference
    attempt.locked_at = None
    attempt.next_check_at = timezone.now() + timedelta(seconds=settings.PSP_ACTION_POLL_SECONDS)
    attempt.save()
    if can_proceed(payment.mark_requires_action):
        payment_services.payment_mark_requires_action(
            payment_id=payment.id,
            next_action=next_action_for(result),
            attempt_id=attempt.id,
            provider_reference=attempt.provider_reference,
            connector=attempt.connector,
        )
        return "requires_action"
    return "still_waiting"


def next_action_for(result: ProviderResult) -> dict[str, Any]:
    action = result.next_action
    if action is None:
        return {}
    data: dict[str, Any] = {
        "type": action.type,
        "expires_at": action.expires_at.isoformat() if action.expires_at else None,
    }
    if action.upi_uri:
        svg = segno.make(action.upi_uri, error="m").svg_inline(scale=4)
        data["upi_uri"] = action.upi_uri
        data["qr_code"] = {
            "image_url_svg": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(),
            "data": action.upi_uri,
        }
    if action.approve_url:
        data["sandbox_approve_url"] = action.approve_url
    return data


def _authorize_failed(payment: Payment, attempt: PaymentAttempt, result: ProviderResult) -> str:
    code = result.decline_code or "provider_declined"
    if result.state is ProviderState.EXPIRED:
        code = "payment_expired"
    message = result.decline_message or "The provider declined the payment."
    if attempt.outcome == AttemptOutcome.SUCCEEDED:
        return _flag(attempt, f"provider reports {code} for an attempt it had reported succeeded")
    if result.retryable and not _finished(attempt) and payment.status == PaymentStatus.PROCESSING:
        # A decline the provider says may pass next time (processing_error): a new attempt, with a new key as
        # the provider asks, after a backoff, a bounded number of times.
        tried = payment.attempts.filter(operation=AttemptOperation.AUTHORIZE).count()
        delay = _retry_policy().delay(tried, _rng)
        if delay is not None:
            _close(attempt, AttemptOutcome.FAILED, result, code=code, message=message)
            _attempt_new(payment, connector=attempt.connector, delay=delay)
            return f"retry_in_{delay:.1f}s"
    if can_proceed(payment.mark_failed):
        _close(attempt, AttemptOutcome.FAILED, result, code=code, message=message)
        _watch_for_late_success(payment, attempt)
        payment_services.payment_mark_failed(
            payment_id=payment.id,
            code=code,
            message=message,
            attempt_id=attempt.id,
            provider_reference=result.provider_reference or "",
            connector=attempt.connector,
        )
        return "failed"
    _close(attempt, AttemptOutcome.FAILED, result, code=code, message=message)
    _watch_for_late_success(payment, attempt)
    return f"failed_while_{payment.status}"


def _watch_for_late_success(payment: Payment, attempt: PaymentAttempt) -> None:
    """A failed or expired UPI transaction may still succeed ("deemed" success): look again a few times."""
    schedule = settings.PSP_UNKNOWN_RECHECK_SCHEDULE
    if payment.payment_method_type == PaymentMethodType.UPI and attempt.checks < len(schedule) - 1:
        attempt.next_check_at = timezone.now() + timedelta(seconds=schedule[max(2, attempt.checks)])
        attempt.save(update_fields=["next_check_at"])


def _never_happened(payment: Payment, attempt: PaymentAttempt, result: ProviderResult) -> str:
    """The provider provably never saw this attempt: fail it and try the next connector, or later, or give up."""
    _close(attempt, AttemptOutcome.FAILED, result, code=str(result.outcome), message=result.error)
    if payment.status != PaymentStatus.PROCESSING:
        return f"not_sent_while_{payment.status}"
    tried = list(payment.attempts.filter(operation=AttemptOperation.AUTHORIZE).values_list("connector", flat=True))
    route = registry.route_for(payment.payment_method_type)
    untried = [name for name in route if name not in tried and _usable(payment, name)]
    if untried:
        _attempt_new(payment, connector=untried[0])
        return f"failover_to_{untried[0]}"
    delay = _retry_policy().delay(len(tried), _rng)
    if delay is not None:
        usable = [name for name in route if _usable(payment, name)]
        _attempt_new(payment, connector=usable[0] if usable else route[0], delay=delay)
        return f"retry_in_{delay:.1f}s"
    payment_services.payment_mark_failed(
        payment_id=payment.id,
        code="provider_unavailable",
        message="No payment provider could be reached; the payment was not charged.",
        connector=attempt.connector,
    )
    return "failed_provider_unavailable"


def _retry_policy(*, max_attempts: int | None = None) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=max_attempts or settings.PSP_MAX_ATTEMPTS_PER_PAYMENT,
        base_seconds=settings.PSP_RETRY_BASE_SECONDS,
        cap_seconds=settings.PSP_RETRY_CAP_SECONDS,
    )


def _usable(payment: Payment, connector: str) -> bool:
    if payment.payment_method_type == PaymentMethodType.CARD and not payment.card_tokens.get(connector):
        return False
    return not registry.breaker_get(connector).is_open()


def _attempt_new(payment: Payment, *, connector: str, delay: float | None = None) -> PaymentAttempt:
    attempt = PaymentAttempt.objects.create(
        payment=payment,
        merchant_id=payment.merchant_id,
        livemode=payment.livemode,
        operation=AttemptOperation.AUTHORIZE,
        amount=payment.amount,
        connector=connector,
    )
    not_before = timezone.now() + timedelta(seconds=delay) if delay else None
    attempt_enqueue(attempt, not_before=not_before)
    return attempt


def _late_success(payment: Payment, attempt: PaymentAttempt, result: ProviderResult) -> str:
    """Money arrived after we gave up on the payment: record it, flag it, and refund it unless told to keep it."""
    if attempt.outcome == AttemptOutcome.SUCCEEDED:
        return "late_success_already_recorded"
    policy = payment.merchant.upi_late_success_policy
    _close(attempt, AttemptOutcome.SUCCEEDED, result)
    attempt.review_reason = f"late_success: the provider reported success after the payment was {payment.status}; " + (
        "refunded automatically" if policy == LateSuccessPolicy.REFUND else "merchant policy says fulfil"
    )
    attempt.save(update_fields=["review_reason"])
    if payment.upi_rrn == "" and result.rrn:
        Payment.objects.filter(pk=payment.pk).update(upi_rrn=result.rrn)
    # The provider holds the money either way: it is on the books until it is refunded.
    fee = 0 if policy == LateSuccessPolicy.REFUND else None
    _post_capture(payment, attempt, result, amount=attempt.amount, fee=fee)
    if policy == LateSuccessPolicy.REFUND:
        refund = PaymentAttempt.objects.create(
            payment=payment,
            merchant_id=payment.merchant_id,
            livemode=payment.livemode,
            operation=AttemptOperation.REFUND,
            amount=attempt.amount,
            connector=attempt.connector,
        )
        Payment.objects.filter(pk=payment.pk).update(psp=attempt.connector)
        attempt_enqueue(refund)
        return "late_success_refunding"
    return "late_success_kept"


def _apply_capture(payment: Payment, attempt: PaymentAttempt, result: ProviderResult) -> str:
    def post() -> None:
        _post_capture(payment, attempt, result, amount=attempt.amount)

    return _apply_to_authorization(attempt, result, done=ProviderState.CAPTURED, name="captured", on_done=post)


def _apply_void(payment: Payment, attempt: PaymentAttempt, result: ProviderResult) -> str:
    return _apply_to_authorization(attempt, result, done=ProviderState.VOIDED, name="voided")


def _apply_to_authorization(
    attempt: PaymentAttempt,
    result: ProviderResult,
    *,
    done: ProviderState,
    name: str,
    on_done: Callable[[], None] | None = None,
) -> str:
    """A capture or void of an authorization we hold: done, still to do (send again, same key), or refused."""
    if result.outcome is Outcome.NOT_SENT:
        return _retry_later(attempt, result)
    if result.outcome in (Outcome.UNKNOWN, Outcome.PENDING, Outcome.NOT_FOUND):
        return _unknown(attempt, result)
    if _finished(attempt):
        return "already_applied"
    if result.outcome is Outcome.SUCCEEDED and result.state is done:
        _close(attempt, AttemptOutcome.SUCCEEDED, result)
        if on_done is not None:
            on_done()
        return name
    if result.operation == "status" and result.state is ProviderState.AUTHORIZED:
        # The lookup found the authorization untouched: our call never landed. Sending it again is safe.
        return _retry_later(attempt, result)
    _close(attempt, AttemptOutcome.FAILED, result, code=result.decline_code or f"{attempt.operation}_failed")
    return _flag(attempt, f"{attempt.operation} refused by the provider ({result.decline_code or result.state})")


def _apply_refund(payment: Payment, attempt: PaymentAttempt, result: ProviderResult) -> str:
    if result.outcome is Outcome.NOT_SENT:
        return _retry_later(attempt, result)
    if result.outcome in (Outcome.UNKNOWN, Outcome.NOT_FOUND):
        return _unknown(attempt, result)
    if _finished(attempt):
        return "already_applied"
    if result.outcome is Outcome.PENDING:
        attempt.provider_reference = result.provider_reference or attempt.provider_reference
        attempt.locked_at = None
        attempt.next_check_at = timezone.now() + timedelta(seconds=settings.PSP_UNKNOWN_RECHECK_SCHEDULE[0])
        attempt.save()
        return "refund_pending"
    if attempt.refund_id is not None:
        return _apply_merchant_refund(payment, attempt, result)
    if result.outcome is Outcome.SUCCEEDED:
        _close(attempt, AttemptOutcome.SUCCEEDED, result)
        funds_refund_post(
            payment=payment,
            refund_id=attempt.id,
            connector=attempt.connector,
            amount=attempt.amount,
            occurred_at=result.occurred_at or timezone.now(),
            provider_reference=result.provider_reference,
        )
        return "refunded"
    _close(attempt, AttemptOutcome.FAILED, result, code=result.decline_code or "refund_failed")
    return _flag(attempt, f"automatic refund failed ({result.decline_code}): refund by hand")


def _apply_merchant_refund(payment: Payment, attempt: PaymentAttempt, result: ProviderResult) -> str:
    """A merchant's refund (``POST /v1/refunds``, the back office): its ledger posting was made when it was
    created, so success only closes it; failure, at the call or later by webhook or lookup, gives the money back."""
    if result.outcome is Outcome.SUCCEEDED:
        _close(attempt, AttemptOutcome.SUCCEEDED, result)
        return refund_services.refund_attempt_apply(payment=payment, attempt=attempt, succeeded=True)
    code = result.decline_code or result.error or "refund_failed"
    _close(attempt, AttemptOutcome.FAILED, result, code=code, message=result.decline_message)
    return refund_services.refund_attempt_apply(payment=payment, attempt=attempt, succeeded=False, failure_reason=code)


def _close(
    attempt: PaymentAttempt, outcome: str, result: ProviderResult, *, code: str = "", message: str | None = ""
) -> None:
    attempt.outcome = outcome
    attempt.provider_reference = result.provider_reference or attempt.provider_reference
    attempt.failure_code = code[:64]
    attempt.failure_message = (message or "")[:500]
    attempt.locked_at = None
    attempt.next_check_at = None
    attempt.finished_at = timezone.now()
    attempt.save()


def _unknown(attempt: PaymentAttempt, result: ProviderResult) -> str:
    """Nobody knows yet: ask the provider again later, on the schedule, and after it, ask a person as well."""
    if _finished(attempt):
        return "already_applied"
    schedule = settings.PSP_UNKNOWN_RECHECK_SCHEDULE
    attempt.outcome = AttemptOutcome.UNKNOWN
    attempt.provider_reference = result.provider_reference or attempt.provider_reference
    attempt.locked_at = None
    attempt.next_check_at = timezone.now() + timedelta(seconds=schedule[min(attempt.checks, len(schedule) - 1)])
    if attempt.checks >= len(schedule) and not attempt.review_reason:
        attempt.review_reason = (
            f"unresolved: the provider could not confirm the outcome after {attempt.checks} checks ({result.error})"
        )
    attempt.save()
    return "unknown"


def _retry_later(attempt: PaymentAttempt, result: ProviderResult) -> str:
    """A capture/void/refund that never left: send it again later to the same provider (the money is there)."""
    attempt.outcome = AttemptOutcome.PENDING
    attempt.locked_at = None
    attempt.started_at = None
    attempt.next_check_at = None
    attempt.checks += 1
    delay = _retry_policy(max_attempts=settings.PSP_MAX_ATTEMPTS_PER_PAYMENT * 3).delay(attempt.checks, _rng)
    if delay is None:
        attempt.save()
        return _flag(attempt, f"{attempt.operation} could not reach {attempt.connector}: {result.error}")
    attempt.save()
    attempt_enqueue(attempt, not_before=timezone.now() + timedelta(seconds=delay))
    return f"retry_in_{delay:.1f}s"


def _flag(attempt: PaymentAttempt, reason: str, *, outcome: str | None = None) -> str:
    attempt.review_reason = reason[:500]
    attempt.locked_at = None
    if outcome is not None:
        attempt.outcome = outcome
        attempt.next_check_at = None
    attempt.save()
    logger.error("attempt_needs_review", attempt_id=attempt.id, payment_id=attempt.payment_id, reason=reason)
    return "flagged"


# --- the janitor ------------------------------------------------------------------------------------------------
def attempts_due(*, limit: int = 200) -> tuple[list[PaymentAttempt], list[PaymentAttempt]]:
    """(attempts to ask the provider about, attempts whose task never ran): the janitor's two lists."""
    stale = Now() - timedelta(seconds=settings.PSP_ATTEMPT_STALE_SECONDS)
    to_check = list(
        PaymentAttempt.objects.filter(
            Q(outcome__in=_OPEN, next_check_at__lte=Now())
            | Q(outcome=AttemptOutcome.PENDING, locked_at__lt=stale)
            # A failed UPI attempt watched for a late ("deemed") success.
            | Q(outcome=AttemptOutcome.FAILED, next_check_at__lte=Now())
        )
        .only("id", "connector", "merchant_id", "livemode", "payment_id")
        .order_by("next_check_at")[:limit]
    )
    never_ran = list(
        PaymentAttempt.objects.filter(
            outcome=AttemptOutcome.PENDING, locked_at=None, started_at=None, next_check_at=None, created__lt=stale
        )
        .only("id", "connector", "merchant_id", "livemode", "payment_id")
        .order_by("id")[:limit]
    )
    return to_check, never_ran


def attempts_janitor() -> dict[str, int]:
    """Beat task body: hands each due attempt to its provider's queue for a status lookup (or a first run)."""
    to_check, never_ran = attempts_due()
    with transaction.atomic():
        for attempt in to_check:
            # Pushed forward now so the next janitor run does not hand out the same check again; a stale claim
            # is taken over (a check task that dies too leaves it stale again, and it comes back here).
            PaymentAttempt.objects.filter(pk=attempt.pk).update(
                next_check_at=Now() + timedelta(seconds=settings.PSP_ATTEMPT_STALE_SECONDS)
            )
            PaymentAttempt.objects.filter(pk=attempt.pk, locked_at__isnull=False).update(locked_at=Now())
            attempt_enqueue(attempt, task=CHECK_ATTEMPT_TASK)
        for attempt in never_ran:
            PaymentAttempt.objects.filter(pk=attempt.pk).update(
                next_check_at=Now() + timedelta(seconds=settings.PSP_ATTEMPT_STALE_SECONDS)
            )
            attempt_enqueue(attempt, task=CHECK_ATTEMPT_TASK)
    return {"checks": len(to_check), "never_ran": len(never_ran)}


def attempt_check(*, attempt_id: str) -> str:
    """Asks the provider what became of an attempt (by our reference) and applies the answer."""
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().select_related("payment").filter(pk=attempt_id).first()
        if attempt is None:
            return "no_such_attempt"
        payment = attempt.payment
        if attempt.outcome == AttemptOutcome.PENDING and attempt.started_at is None:
            # Its execute task never ran (lost message): run it now, on this provider's worker.
            run_now = True
        else:
            run_now = False
            late_watch = attempt.outcome == AttemptOutcome.FAILED and payment.payment_method_type == "upi"
            if attempt.outcome not in _OPEN and not late_watch:
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
            authorization = _authorization(payment)
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


# --- the back office --------------------------------------------------------------------------------------------
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
