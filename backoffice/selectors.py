"""The back office's reads: platform-wide (support and finance see every merchant), unlike the API's selectors.

Each query here is served by a partial index of the queue it counts, so the navigation badges stay cheap on every
page.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from payments.enums import AttemptOutcome, DisputeStatus
from payments.models import Customer, Dispute, Payment, PaymentAttempt, PaymentMethod
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


def customer_payment_methods(*, customer: Customer) -> list[PaymentMethod]:
    """Every payment method ever saved to the customer, newest first: attached ones, and detached ones that still
    say who they belonged to (a detach keeps the customer on record only through its audit entry, so the payments
    made with a card are what ties a detached card to the customer)."""
    made_with = Payment.objects.filter(customer=customer, payment_method__isnull=False).values("payment_method_id")
    methods = PaymentMethod.objects.filter(Q(customer=customer) | Q(pk__in=made_with)).order_by("-id")
    # Saved ones first (what support acts on), then the rest; newest first within each.
    return sorted(methods, key=lambda method: method.customer_id != customer.id)


def customer_payments(*, customer: Customer, limit: int) -> tuple[list[Payment], int]:
    """The customer's newest payments (at most ``limit``) and how many there are in all."""
    payments = Payment.objects.filter(customer=customer).order_by("-id")
    shown = list(payments[:limit])
    return shown, len(shown) if len(shown) < limit else payments.count()
