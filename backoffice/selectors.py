"""The back office's reads: platform-wide (support and finance see every merchant), unlike the API's selectors.

Each query here is served by a partial index of the queue it counts, so the navigation badges stay cheap on every
page.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from payments.enums import AttemptOutcome, DisputeStatus
from payments.models import Dispute, Payment, PaymentAttempt
from reconciliation.enums import DiscrepancyStatus
from reconciliation.models import Discrepancy

# An attempt is in doubt when a person must look at it, or when nobody knows yet whether the provider acted on it.
IN_DOUBT = ~Q(review_reason="") | Q(outcome=AttemptOutcome.UNKNOWN)


def attempts_in_doubt(queryset: QuerySet[PaymentAttempt]) -> QuerySet[PaymentAttempt]:
    return queryset.filter(IN_DOUBT)


def attempts_in_doubt_count() -> int:
    return attempts_in_doubt(PaymentAttempt.objects.all()).count()


def disputes_needing_response_count() -> int:
    return Dispute.objects.filter(status=DisputeStatus.NEEDS_RESPONSE).count()


def discrepancies_open_count() -> int:
    return Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN).count()


def payment_refundable(*, payment_id: str) -> int:
    """What is left to refund now (pending refunds already count as refunded)."""
    payment = Payment.objects.only("amount_captured", "amount_refunded").get(pk=payment_id)
    return payment.amount_captured - payment.amount_refunded


def dispute_blocking_refunds(*, payment_id: str) -> Dispute | None:
    """A dispute the issuer has not decided for the merchant: while it is open, lost or accepted the provider
    refuses refunds (the money is already on its way back through the chargeback)."""
    return Dispute.objects.filter(payment_id=payment_id).exclude(status=DisputeStatus.WON).order_by("-id").first()
