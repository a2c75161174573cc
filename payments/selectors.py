"""Every non-trivial read of the payments app, scoped to one merchant and one mode.

Another merchant's object, or one of the other mode (a test key asking for a live payment), does not exist as far
as the caller can tell: ``ResourceMissingError`` (404), never 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import BigIntegerField, Case, Count, Exists, F, Min, OuterRef, Q, QuerySet, Sum, When

from ledger import references
from ledger.balances import MerchantBalances, merchant_balances
from ledger.models import JournalTransaction
from payments.connectors import registry
from payments.enums import RefundStatus, WebhookDeliveryStatus
from payments.exceptions import ResourceMissingError
from payments.models import (
    CheckoutSession,
    Customer,
    Dispute,
    Event,
    Merchant,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    Payout,
    Refund,
    WebhookDelivery,
    WebhookEndpoint,
)


def connector_names() -> list[str]:
    """The provider connectors this deployment is configured with (the back office filters by them)."""
    return registry.connector_names()


def customer_get(*, merchant: Merchant, livemode: bool, customer_id: str, param: str = "id") -> Customer:
    """A live (not deleted) customer of this merchant and mode; anything else is a 404."""
    customer = Customer.objects.filter(
        pk=customer_id, merchant=merchant, livemode=livemode, deleted_at__isnull=True
    ).first()
    if customer is None:
        raise ResourceMissingError(f"No such customer: '{customer_id[:64]}'.", param=param)
    return customer


def customer_list(*, merchant: Merchant, livemode: bool, email: str | None = None) -> QuerySet[Customer]:
    customers = Customer.objects.filter(merchant=merchant, livemode=livemode, deleted_at__isnull=True)
    if email:
        customers = customers.filter(email__iexact=email)
    return customers.order_by("-id")


def payment_method_get(
    *, merchant: Merchant, livemode: bool, payment_method_id: str, param: str = "id"
) -> PaymentMethod:
    method = PaymentMethod.objects.filter(pk=payment_method_id, merchant=merchant, livemode=livemode).first()
    if method is None:
        raise ResourceMissingError(f"No such payment method: '{payment_method_id[:64]}'.", param=param)
    return method


def payment_method_list(*, merchant: Merchant, livemode: bool, customer: Customer) -> QuerySet[PaymentMethod]:
    """A customer's attached payment methods, newest first."""
    return PaymentMethod.objects.filter(
        merchant=merchant, livemode=livemode, customer=customer, detached_at__isnull=True
    ).order_by("-id")


def payment_get(*, merchant: Merchant, livemode: bool, payment_id: str) -> Payment:
    payment = (
        Payment.objects.filter(pk=payment_id, merchant=merchant, livemode=livemode).prefetch_related("attempts").first()
    )
    if payment is None:
        raise ResourceMissingError(f"No such payment: '{payment_id[:64]}'.")
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


def refund_get(*, merchant: Merchant, livemode: bool, refund_id: str) -> Refund:
    refund = Refund.objects.filter(pk=refund_id, merchant=merchant, livemode=livemode).first()
    if refund is None:
        raise ResourceMissingError(f"No such refund: '{refund_id[:64]}'.")
    return refund


def refund_total_by_requester(*, payment_id: str, requested_by_prefix: str) -> int:
    """What the refunds of one kind of requester (the back office: ``admin:``) took from a payment, failed ones
    aside: the running total a refund limit applies to."""
    total = (
        Refund.objects.filter(payment_id=payment_id, requested_by__startswith=requested_by_prefix)
        .exclude(status__in=[RefundStatus.FAILED, RefundStatus.CANCELED])
        .aggregate(total=Sum("amount"))["total"]
    )
    return int(total or 0)


def refund_list(*, merchant: Merchant, livemode: bool, payment_id: str | None = None) -> QuerySet[Refund]:
    refunds = Refund.objects.filter(merchant=merchant, livemode=livemode)
    if payment_id is not None:
        refunds = refunds.filter(payment_id=payment_id)
    return refunds


def payout_get(*, merchant: Merchant, livemode: bool, payout_id: str) -> Payout:
    payout = Payout.objects.filter(pk=payout_id, merchant=merchant, livemode=livemode).first()
    if payout is None:
        raise ResourceMissingError(f"No such payout: '{payout_id[:64]}'.")
    return payout


def payout_list(*, merchant: Merchant, livemode: bool, status: str | None = None) -> QuerySet[Payout]:
    payouts = Payout.objects.filter(merchant=merchant, livemode=livemode)
    if status is not None:
        payouts = payouts.filter(status=status)
    return payouts


# --- balances, derived from the ledger ---------------------------------------------------------------------------
def balance_get(*, merchant: Merchant) -> MerchantBalances:
    return merchant_balances(merchant.id)


_TYPES = {
    references.Flow.CAPTURE: "payment",
    references.Flow.RELEASE: "release",
    references.Flow.REFUND_FAILED: "refund_failure",
    references.Flow.PAYOUT_FAILED: "payout_failure",
    references.Flow.DISPUTE_OPENED: "dispute",
    references.Flow.DISPUTE_WON: "dispute_reversal",
}


def balance_transaction_type(reference: str, source_type: str) -> str:
    kind = _TYPES.get(references.reference_flow(reference))
    if kind is not None:
        return kind
    if source_type in ("refund", "payout"):
        return source_type
    return "adjustment"  # write-offs and reconciliation's corrections


def balance_transaction_list(*, merchant: Merchant) -> QuerySet[JournalTransaction]:
    """Every ledger transaction that moved the merchant's money, newest first, with its net effect on the merchant
    (``net``): one query per page. The internal pending → available transfers are left out; each transaction's
    stored ``available_on`` says when its money is (or was) available."""
    mine = Q(entries__merchant_id=merchant.id)
    signed = Case(
        When(entries__direction="credit", then=F("entries__amount")),
        default=-F("entries__amount"),
        output_field=BigIntegerField(),
    )
    transactions: QuerySet[JournalTransaction] = (
        references.without_releases()
        .filter(mine)
        .annotate(net=Sum(signed, filter=mine), currency=Min("entries__currency", filter=mine))
        .only("id", "reference", "source_type", "source_id", "occurred_at", "available_on", "metadata", "description")
    )
    return transactions


def dispute_get(*, merchant: Merchant, livemode: bool, dispute_id: str) -> Dispute:
    dispute = Dispute.objects.filter(pk=dispute_id, merchant=merchant, livemode=livemode).first()
    if dispute is None:
        raise ResourceMissingError(f"No such dispute: '{dispute_id[:64]}'.")
    return dispute


def dispute_list(*, merchant: Merchant, livemode: bool, status: str | None = None) -> QuerySet[Dispute]:
    disputes = Dispute.objects.filter(merchant=merchant, livemode=livemode)
    if status is not None:
        disputes = disputes.filter(status=status)
    return disputes


def settlement_candidates(*, connector: str) -> QuerySet[PaymentAttempt, Any]:
    """What reconciliation matches a provider's settlement lines against: one row per attempt the provider knows
    (it has a provider reference: charges, captures, voids and refunds), with the payment's amount, status and
    RRN. Platform-wide, not merchant-scoped: a settlement file covers every merchant. Reconciliation compiles this
    into its set-based SQL, so keep it flat.
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
            "operation",
            "amount",
            "refund_id",
            payment_status=F("payment__status"),
            payment_method=F("payment__payment_method_type"),
            amount_captured=F("payment__amount_captured"),
            payment_currency=F("payment__currency"),
            upi_rrn=F("payment__upi_rrn"),
        )
    )


# --- events and webhook endpoints ------------------------------------------------------------------------------------
def event_list(
    *,
    merchant: Merchant,
    livemode: bool,
    event_type: str | None = None,
    created_gte: datetime | None = None,
    created_lte: datetime | None = None,
    delivery_success: bool | None = None,
) -> QuerySet[Event]:
    """Events of a merchant and mode, with ``pending_webhooks`` annotated. ``event_type`` may end in ``.*``
    (``payment.*``); ``delivery_success=False`` keeps the events some endpoint has not acknowledged yet (still
    retrying or given up), ``True`` those every endpoint acknowledged."""
    events = Event.objects.filter(merchant=merchant, livemode=livemode)
    if event_type:
        if event_type.endswith(".*"):
            events = events.filter(type__startswith=event_type[:-1])
        else:
            events = events.filter(type=event_type)
    if created_gte is not None:
        events = events.filter(created__gte=created_gte)
    if created_lte is not None:
        events = events.filter(created__lte=created_lte)
    if delivery_success is not None:
        undelivered = WebhookDelivery.objects.filter(event=OuterRef("pk")).exclude(
            status=WebhookDeliveryStatus.SUCCEEDED
        )
        events = events.filter(~Exists(undelivered) if delivery_success else Exists(undelivered))
    return events.annotate(
        pending_webhooks=Count("deliveries", filter=Q(deliveries__status=WebhookDeliveryStatus.PENDING))
    )


def event_get(*, merchant: Merchant, livemode: bool, event_id: str) -> Event:
    event = event_list(merchant=merchant, livemode=livemode).filter(pk=event_id).first()
    if event is None:
        raise ResourceMissingError(f"No such event: '{event_id}'", param="id")
    return event


def webhook_endpoint_list(*, merchant: Merchant, livemode: bool) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(merchant=merchant, livemode=livemode)


def webhook_endpoint_get(*, merchant: Merchant, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    endpoint = webhook_endpoint_list(merchant=merchant, livemode=livemode).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise ResourceMissingError(f"No such webhook endpoint: '{endpoint_id}'", param="id")
    return endpoint


def checkout_session_get(*, merchant: Merchant, livemode: bool, session_id: str) -> CheckoutSession:
    session = CheckoutSession.objects.filter(pk=session_id, merchant=merchant, livemode=livemode).first()
    if session is None:
        raise ResourceMissingError(f"No such checkout session: '{session_id[:64]}'.")
    return session


def checkout_session_list(
    *, merchant: Merchant, livemode: bool, status: str | None = None
) -> QuerySet[CheckoutSession]:
    sessions = CheckoutSession.objects.filter(merchant=merchant, livemode=livemode)
    if status:
        sessions = sessions.filter(status=status)
    return sessions.order_by("-id")


def checkout_session_for_page(*, session_id: str) -> CheckoutSession | None:
    """The hosted page's session, by its unguessable id alone (the payer has no key), with what the page shows."""
    if not session_id.startswith("cs_") or len(session_id) > 60:
        return None
    return CheckoutSession.objects.select_related("merchant", "payment").filter(pk=session_id).first()
