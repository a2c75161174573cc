"""Disputes: opened and closed by the provider's chargeback webhooks, answered by the merchant.

Opening posts ``chargeback_opened`` (the disputed amount plus the dispute fee leave the merchant's balance) with
the dispute row and the ``dispute.created`` event; winning posts ``dispute_won`` (the exact reversal) with
``dispute.closed``. The merchant's evidence submission and acceptance change our state at once and reach the
provider through an outbox command on its queue, with one persisted idempotency key, outside any transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from payments.connectors import registry
from payments.connectors.base import DisputeState, Outcome, ProviderDispute
from payments.enums import AttemptOperation, DisputeStatus, EventType
from payments.exceptions import InvalidRequestError, PaymentStateError, ResourceMissingError
from payments.models import Dispute, EvidenceFile, Merchant, Payment, PaymentAttempt
from payments.representations import dispute_representation
from payments.services.funds import funds_chargeback_post, funds_dispute_won_post
from payments.services.outbox import outbox_command_add, outbox_object_event_add

logger = structlog.get_logger(__name__)

DISPUTE_RESPOND_TASK = "payments.dispute_respond"
EVIDENCE_TEXT_FIELDS = (
    "product_description",
    "customer_name",
    "customer_email_address",
    "customer_communication",
    "shipping_tracking_number",
    "refund_policy",
    "uncategorized_text",
)


def _event(dispute: Dispute, event_type: str) -> None:
    outbox_object_event_add(
        obj=dispute, event_type=event_type, aggregate_type="dispute", payload=dispute_representation(dispute)
    )


# --- from the provider -------------------------------------------------------------------------------------------
def dispute_apply_provider_dispute(*, dispute: ProviderDispute) -> str:
    """A provider's chargeback (from any of its dispute webhooks), applied idempotently and only ever forward: the
    dispute is created the first time any of its events arrives, closed when one says so. Its currency and amount
    are checked against the payment first; a chargeback that does not fit is never posted but flagged."""
    authorization = (
        PaymentAttempt.objects.filter(
            pk=dispute.reference, connector=dispute.connector, operation=AttemptOperation.AUTHORIZE
        )
        .values_list("id", "payment_id")
        .first()
    )
    if not dispute.provider_reference or authorization is None:
        return "unknown_reference"
    attempt_id, payment_id = authorization
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        row = (
            Dispute.objects.select_for_update()
            .filter(connector=dispute.connector, provider_reference=dispute.provider_reference)
            .first()
        )
        outcome = "dispute_seen"
        if row is None:
            problem = _dispute_problem(payment, dispute)
            if problem:
                reason = f"evidence_mismatch (dispute {dispute.provider_reference}): {problem}"[:500]
                PaymentAttempt.objects.filter(pk=attempt_id).update(review_reason=reason)
                logger.error("attempt_needs_review", attempt_id=attempt_id, payment_id=payment_id, reason=reason)
                return "flagged"
            row = _open(payment, dispute)
            outcome = "dispute_created"
        if dispute.state in (DisputeState.WON, DisputeState.LOST):
            outcome = _close(payment, row, won=dispute.state is DisputeState.WON)
    return outcome


def _dispute_problem(payment: Payment, dispute: ProviderDispute) -> str:
    if dispute.currency != payment.currency:
        return f"currency {dispute.currency!r}, expected {payment.currency!r}"
    if dispute.amount is None or not 0 < dispute.amount <= payment.amount_captured:
        return f"amount {dispute.amount}, expected at most the {payment.amount_captured} captured"
    return ""


def _open(payment: Payment, dispute: ProviderDispute) -> Dispute:
    amount = dispute.amount or 0  # checked by _dispute_problem
    row = Dispute.objects.create(
        merchant_id=payment.merchant_id,
        livemode=payment.livemode,
        payment=payment,
        amount=amount,
        currency=payment.currency,
        fee=dispute.fee,
        reason=dispute.reason,
        evidence_due_by=dispute.evidence_due_by,
        connector=dispute.connector,
        provider_reference=dispute.provider_reference,
    )
    Payment.objects.filter(pk=payment.pk).update(disputed=True, updated=timezone.now())
    funds_chargeback_post(
        payment=payment,
        dispute_id=row.id,
        connector=dispute.connector,
        amount=amount,
        fee=dispute.fee,
        occurred_at=timezone.now(),
        provider_occurred_at=dispute.created,
        provider_reference=row.provider_reference,
    )
    _event(row, EventType.DISPUTE_CREATED)
    return row


def _close(payment: Payment, dispute: Dispute, *, won: bool) -> str:
    if dispute.status in (DisputeStatus.WON, DisputeStatus.LOST):
        return f"dispute_already_{dispute.status}"
    if dispute.status == DisputeStatus.ACCEPTED:
        # The merchant gave up; the provider's "lost" only confirms it (dispute.closed went out on accept).
        return "dispute_accepted"
    now = timezone.now()
    if won:
        dispute.mark_won()
        funds_dispute_won_post(payment=payment, dispute_id=dispute.id, occurred_at=now)
    else:
        dispute.mark_lost()
    dispute.closed_at = dispute.updated = now
    dispute.save()
    _event(dispute, EventType.DISPUTE_CLOSED)
    return f"dispute_{dispute.status}"


# --- the merchant's answer ---------------------------------------------------------------------------------------
def _lock(dispute_id: str, *, merchant: Merchant | None = None, livemode: bool = False) -> Dispute:
    queryset = Dispute.objects.select_for_update().filter(pk=dispute_id)
    if merchant is not None:
        queryset = queryset.filter(merchant=merchant, livemode=livemode)
    dispute = queryset.first()
    if dispute is None:
        raise ResourceMissingError(f"No such dispute: '{dispute_id[:64]}'.")
    return dispute


def _respond_later(dispute: Dispute, action: str, *, delay: float | None = None) -> None:
    outbox_command_add(
        task_name=DISPUTE_RESPOND_TASK,
        kwargs={"dispute_id": dispute.id, "action": action},
        queue=registry.queue_for(dispute.connector),
        merchant_id=dispute.merchant_id,
        livemode=dispute.livemode,
        aggregate_type="dispute",
        aggregate_id=dispute.id,
        not_before=timezone.now() + timedelta(seconds=delay) if delay else None,
    )


def dispute_update(
    *,
    merchant: Merchant,
    livemode: bool,
    dispute_id: str,
    evidence: Mapping[str, Any] | None = None,
    submit: bool = False,
) -> Dispute:
    """Stages evidence (text fields and ids of uploaded files); with ``submit`` it goes to the provider, once."""
    with transaction.atomic():
        dispute = _lock(dispute_id, merchant=merchant, livemode=livemode)
        if dispute.status != DisputeStatus.NEEDS_RESPONSE:
            raise PaymentStateError(
                f"Evidence cannot change once the dispute is {dispute.status}.", code="dispute_unexpected_state"
            )
        if dispute.evidence_due_by is not None and dispute.evidence_due_by < timezone.now():
            raise PaymentStateError("The evidence deadline has passed.", code="dispute_evidence_overdue")
        staged = dict(dispute.evidence)
        for key, value in (evidence or {}).items():
            if key == "files":
                files = [str(file_id) for file_id in value]
                known = set(EvidenceFile.objects.filter(dispute=dispute, pk__in=files).values_list("id", flat=True))
                if missing := [f for f in files if f not in known]:
                    raise InvalidRequestError(f"No such file: {missing[0][:64]}.", param="evidence[files]")
                staged["files"] = files
            elif key in EVIDENCE_TEXT_FIELDS:
                staged[key] = str(value)[:20_000]
            else:
                raise InvalidRequestError(f"Unknown evidence field: {key[:40]}.", param=f"evidence[{key[:40]}]")
        dispute.evidence = staged
        dispute.updated = timezone.now()
        if submit:
            dispute.submit()
            dispute.evidence_submitted_at = dispute.updated
            _respond_later(dispute, "evidence")
        dispute.save()
    return dispute


def dispute_accept(*, merchant: Merchant, livemode: bool, dispute_id: str) -> Dispute:
    with transaction.atomic():
        dispute = _lock(dispute_id, merchant=merchant, livemode=livemode)
        if dispute.status != DisputeStatus.NEEDS_RESPONSE:
            raise PaymentStateError(
                f"You cannot accept a dispute that is {dispute.status}.", code="dispute_unexpected_state"
            )
        dispute.accept()
        dispute.closed_at = dispute.updated = timezone.now()
        dispute.save()
        _respond_later(dispute, "accept")
        _event(dispute, EventType.DISPUTE_CLOSED)
    return dispute


def dispute_respond(*, dispute_id: str, action: str) -> str:
    """The task's body: tells the provider (no transaction is open during the call); an unknown outcome is sent
    again later with the same idempotency key, so the provider applies it once."""
    dispute = Dispute.objects.get(pk=dispute_id)
    body: dict[str, Any] = {}
    if action == "evidence":
        files = EvidenceFile.objects.filter(pk__in=dispute.evidence.get("files", []))
        body = {
            "evidence": {**dispute.evidence, "files": [{"id": f.id, "name": f.name} for f in files]},
            "submit": True,
        }
    connector = registry.connector_get(dispute.connector)
    result = connector.dispute_respond(
        dispute=dispute.provider_reference,
        action=action,
        body=body,
        idempotency_key=f"{dispute.provider_idempotency_key}:{action}",
    )
    if result.outcome in (Outcome.UNKNOWN, Outcome.NOT_SENT):
        with transaction.atomic():
            _respond_later(dispute, action, delay=30.0)
        return f"{action}_retry"
    if result.outcome is not Outcome.SUCCEEDED:
        logger.error("dispute_response_refused", dispute_id=dispute.id, action=action, error=result.decline_code)
        if action == "evidence":
            return _evidence_refused(dispute_id, reason=result.decline_code or result.error or "refused")
        return f"{action}_refused"
    return f"{action}_sent"


def _evidence_refused(dispute_id: str, *, reason: str) -> str:
    """The refusal reaches the dispute (status and reason), the back office and the merchant (an event)."""
    with transaction.atomic():
        dispute = _lock(dispute_id)
        if dispute.status != DisputeStatus.UNDER_REVIEW:
            return f"evidence_refused_while_{dispute.status}"
        dispute.refuse_evidence(reason=reason)
        dispute.updated = timezone.now()
        dispute.save()
        _event(dispute, EventType.DISPUTE_EVIDENCE_REFUSED)
    return "evidence_refused"


def evidence_file_add(*, dispute: Dispute, upload: UploadedFile[bytes], uploaded_by: str) -> EvidenceFile:
    """Stores an evidence file with the platform's storage backend, after checking its size and type."""
    if upload.size is None or upload.size > settings.DISPUTE_EVIDENCE_MAX_BYTES:
        raise InvalidRequestError(
            f"Evidence files are at most {settings.DISPUTE_EVIDENCE_MAX_BYTES} bytes.", code="file_too_large"
        )
    content_type = upload.content_type or ""
    head = upload.read(8)
    upload.seek(0)
    sniffed = {b"%PDF": "application/pdf", b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg"}
    actual = next((kind for magic, kind in sniffed.items() if head.startswith(magic)), "")
    if content_type not in settings.DISPUTE_EVIDENCE_CONTENT_TYPES or actual != content_type:
        raise InvalidRequestError("Evidence files are PDF, PNG or JPEG.", code="file_type_invalid")
    return EvidenceFile.objects.create(
        merchant_id=dispute.merchant_id,
        dispute=dispute,
        file=upload,
        name=(upload.name or "evidence")[:255],
        content_type=content_type,
        size=upload.size,
        uploaded_by=uploaded_by[:150],
    )
