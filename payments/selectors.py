"""Every non-trivial read of the payments app, scoped to one merchant and one mode.

Another merchant's object, or one of the other mode (a test key asking for a live payment), does not exist as far
as the caller can tell: ``PaymentNotFoundError`` (404), never 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet

from payments.exceptions import PaymentNotFoundError
from payments.models import Merchant, Payment, PaymentAttempt


def payment_get(*, merchant: Merchant, livemode: bool, payment_id: str) -> Payment:
    payment = (
        Payment.objects.filter(pk=payment_id, merchant=merchant, livemode=livemode).prefetch_related("attempts").first()
    )
    if payment is None:
        raise PaymentNotFoundError(f"No such payment: '{payment_id[:64]}'.")
    return payment


def payment_list(
    *,
    merchant: Merchant,
    livemode: bool,
    status: str | None = None,
    created_gte: datetime | None = None,
    created_lte: datetime | None = None,
) -> QuerySet[Payment]:
    """Newest first; the caller pages it by id (``core.api.pagination``). Attempts come in one extra query."""
    payments = Payment.objects.filter(merchant=merchant, livemode=livemode)
    if status is not None:
        payments = payments.filter(status=status)
    if created_gte is not None:
        payments = payments.filter(created__gte=created_gte)
    if created_lte is not None:
        payments = payments.filter(created__lte=created_lte)
    return payments.prefetch_related("attempts")


def settlement_candidates(*, connector: str) -> QuerySet[PaymentAttempt, Any]:
    """What reconciliation matches a provider's settlement lines against: one row per attempt the provider knows
    (it has a provider reference), with the payment's amount, status and RRN. Platform-wide, not merchant-scoped:
    a settlement file covers every merchant. Reconciliation compiles this into its set-based SQL, so keep it flat.
    """
    return (
        PaymentAttempt.objects.filter(connector=connector)
        .exclude(provider_reference="")
        .values(
            "id",
            "provider_reference",
            "payment_id",
            "fee",
            "outcome",
            payment_status=F("payment__status"),
            payment_method=F("payment__payment_method_type"),
            amount_captured=F("payment__amount_captured"),
            payment_currency=F("payment__currency"),
            upi_rrn=F("payment__upi_rrn"),
        )
    )
