"""Step 1: claim an attempt (one short transaction) and build the provider request it will send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from django.db import transaction
from django.utils import timezone

from core.logging import bind_payment
from payments.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    ProviderRequest,
    RefundRequest,
    UpiCollectRequest,
    UpiIntentRequest,
    VoidRequest,
)
from payments.enums import AttemptOperation, AttemptOutcome, CaptureMethod, PaymentMethodType, UpiFlow
from payments.models import Payment, PaymentAttempt
from payments.services.attempts.queue import attempt_connector_default, card_chargeable_at

logger = structlog.get_logger(__name__)

# How long a refund waits before it is looked at again while its payment's capture is still on its way.
REFUND_CAPTURE_WAIT = timedelta(seconds=2)


@dataclass(frozen=True)
class Claim:
    attempt_id: str
    payment_id: str
    connector: str
    operation: str
    request: ProviderRequest | None  # None when the call cannot be made (no card for this acquirer)
    # A card authorization's payment method: the call tokenizes its card first when the request has no token yet,
    # and destroys its CVC once the authorization was sent.
    payment_method_id: str = ""


def attempt_claim(*, attempt_id: str) -> Claim | None:
    """Stamps the attempt as running here, or returns None when it is finished, running elsewhere, or was sent
    before and is in doubt (the janitor owns it then: never a blind resend), or is a refund whose capture has not
    reached the provider yet (the janitor runs it later)."""
    with transaction.atomic():
        attempt = (
            PaymentAttempt.objects.select_for_update(of=("self",))
            .select_related("payment", "payment__payment_method")
            .filter(pk=attempt_id)
            .first()
        )
        if attempt is None:
            logger.warning("attempt_missing", attempt_id=attempt_id)
            return None
        bind_payment(attempt.payment_id, merchant_id=attempt.merchant_id)
        if attempt.outcome != AttemptOutcome.PENDING or attempt.locked_at is not None or attempt.started_at:
            return None
        if attempt.operation == AttemptOperation.REFUND and _capture_in_flight(attempt):
            # A refund right after a manual capture: the payment is succeeded on our side, but the provider holds an
            # authorization until the capture's call lands, and refuses to refund it (the merchant's refund would
            # fail). It waits, unsent; the janitor runs it once the capture is settled.
            attempt.next_check_at = timezone.now() + REFUND_CAPTURE_WAIT
            attempt.save(update_fields=["next_check_at"])
            logger.info("refund_waits_for_capture", attempt_id=attempt.id)
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
        card = isinstance(request, AuthorizeRequest)
        return Claim(
            attempt.id,
            payment.id,
            attempt.connector,
            attempt.operation,
            request,
            payment_method_id=(payment.payment_method_id or "") if card else "",
        )


def _capture_in_flight(attempt: PaymentAttempt) -> bool:
    return PaymentAttempt.objects.filter(
        payment_id=attempt.payment_id,
        operation=AttemptOperation.CAPTURE,
        outcome__in=[AttemptOutcome.PENDING, AttemptOutcome.UNKNOWN],
    ).exists()


def attempt_authorization(attempts: list[PaymentAttempt]) -> PaymentAttempt | None:
    """The authorization a capture, void or refund acts on: the newest authorize attempt that succeeded."""
    found = [
        a
        for a in attempts
        if a.operation == AttemptOperation.AUTHORIZE and a.outcome == AttemptOutcome.SUCCEEDED and a.provider_reference
    ]
    return max(found, key=lambda a: a.id) if found else None


def _provider_request(attempt: PaymentAttempt, payment: Payment) -> ProviderRequest | None:
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
                    metadata=dict(payment.metadata),
                )
            return UpiIntentRequest(
                reference=reference,
                idempotency_key=key,
                amount=amount,
                currency=currency,
                expires_in=payment.upi_expires_in or 600,
                description=payment.description[:80],
                metadata=dict(payment.metadata),
            )
        if not card_chargeable_at(payment, attempt.connector):
            return None
        # No token at this acquirer yet: the call makes it (the card leaves the vault only there).
        token = payment.payment_method.provider_tokens.get(attempt.connector, "") if payment.payment_method else ""
        return AuthorizeRequest(
            reference=reference,
            idempotency_key=key,
            amount=amount,
            currency=currency,
            token=str(token),
            capture=payment.capture_method == CaptureMethod.AUTOMATIC,
            description=payment.description,
            metadata=dict(payment.metadata),
        )
    authorization = attempt_authorization(list(payment.attempts.all()))
    if authorization is None:
        return None
    target = authorization.provider_reference
    if attempt.operation == AttemptOperation.CAPTURE:
        return CaptureRequest(reference, key, target, amount, currency)
    if attempt.operation == AttemptOperation.VOID:
        return VoidRequest(reference, key, target, amount, currency)
    reason = attempt.refund.reason if attempt.refund_id is not None and attempt.refund else "late_success"
    return RefundRequest(reference, key, target, amount, currency, reason=reason)
