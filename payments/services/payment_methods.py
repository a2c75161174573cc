"""Payment methods and customers: saving a card (number into the vault), attaching it, detaching it.

An inline card on ``POST /v1/payments`` goes through :func:`payment_method_card_build` too, so every card payment has
a payment method and every card number is in the vault and nowhere else. Nothing here calls a provider: the card is
tokenized by the executor, at the acquirer an attempt actually uses (:mod:`payments.services.card_tokens`).
"""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.db import new_row
from payments.cards import TEST_PAYMENT_METHODS, card_validate
from payments.connectors.base import CardSummary, RawCard
from payments.enums import PaymentMethodType
from payments.exceptions import InvalidRequestError, ResourceMissingError
from payments.models import CardVaultEntry, Customer, Merchant, PaymentMethod
from payments.services.vault import vault_card_store


def payment_method_card_build(
    *,
    merchant_id: str,
    livemode: bool,
    card: CardSummary,
    raw: RawCard,
    customer: Customer | None = None,
    metadata: dict[str, str] | None = None,
) -> tuple[CardVaultEntry, PaymentMethod]:
    """The vault entry and the payment method of a validated card, unsaved: the caller inserts them with its rows."""
    entry = vault_card_store(
        merchant_id=merchant_id, number=raw.number, exp_month=raw.exp_month, exp_year=raw.exp_year, cvc=raw.cvc
    )
    method = new_row(
        PaymentMethod,
        merchant_id=merchant_id,
        livemode=livemode,
        type=PaymentMethodType.CARD,
        customer=customer,
        card_brand=card.brand,
        card_last4=card.last4,
        card_fingerprint=card.fingerprint,
        card_exp_month=card.exp_month,
        card_exp_year=card.exp_year,
        vault_entry=entry,
        metadata=metadata or {},
    )
    return entry, method


def payment_method_test_card(name: str, *, today: date) -> tuple[CardSummary, RawCard] | None:
    """Stripe's published test payment methods (``pm_card_visa`` …) as the sandbox's test cards; test mode only."""
    found = TEST_PAYMENT_METHODS.get(name)
    if found is None:
        return None
    number, cvc = found
    exp_year = today.year + 3
    summary = card_validate(number=number, exp_month=12, exp_year=exp_year, cvc=cvc, today=today)
    return summary, RawCard(number=number, exp_month=12, exp_year=exp_year, cvc=cvc)


def payment_method_test_get_or_create(*, merchant_id: str, name: str, today: date) -> PaymentMethod | None:
    """The merchant's one payment method standing for a Stripe test payment method (``pm_card_visa`` …), made at
    its first use: every later use charges the same row (and the acquirer's token made for it), rather than sealing
    the same test card into a new vault entry and payment method each time. ``None`` if ``name`` is not one.

    Get-or-create the safe way: the partial unique constraint ``pm_test_alias_unique`` decides a race between two
    first uses. The loser's insert waits for the winner's transaction, fails, rolls back its own savepoint (its
    vault entry with it) and reads the winner's row. A detached one is left alone: the next use makes a new one.
    """
    test_card = payment_method_test_card(name, today=today)
    if test_card is None:
        return None
    current = PaymentMethod.objects.filter(merchant_id=merchant_id, test_alias=name, detached_at__isnull=True)
    found = current.first()
    if found is not None:
        return found
    entry, method = payment_method_card_build(
        merchant_id=merchant_id, livemode=False, card=test_card[0], raw=test_card[1]
    )
    method.test_alias = name
    try:
        # The only savepoint on this path, and only at the first use.
        with transaction.atomic():
            entry.save(force_insert=True)
            method.save(force_insert=True)
    except IntegrityError:
        return current.get()
    return method


def payment_method_create(
    *,
    merchant: Merchant,
    livemode: bool,
    card: tuple[CardSummary, RawCard] | None = None,
    vpa: str = "",
    customer: Customer | None = None,
    metadata: dict[str, str] | None = None,
) -> PaymentMethod:
    """``POST /v1/payment_methods``: a card (validated by the caller) or a UPI id."""
    with transaction.atomic():
        if card is not None:
            entry, method = payment_method_card_build(
                merchant_id=merchant.id,
                livemode=livemode,
                card=card[0],
                raw=card[1],
                customer=customer,
                metadata=metadata,
            )
            entry.save(force_insert=True)
        else:
            method = PaymentMethod(
                merchant=merchant,
                livemode=livemode,
                type=PaymentMethodType.UPI,
                upi_vpa=vpa,
                customer=customer,
                metadata=metadata or {},
            )
        method.save(force_insert=True)
    return method


def _locked(merchant: Merchant, livemode: bool, payment_method_id: str) -> PaymentMethod:
    method = (
        PaymentMethod.objects.select_for_update()
        .filter(pk=payment_method_id, merchant=merchant, livemode=livemode)
        .first()
    )
    if method is None:
        raise ResourceMissingError(f"No such payment method: '{payment_method_id[:64]}'.", param="payment_method")
    return method


def payment_method_attach(
    *, merchant: Merchant, livemode: bool, payment_method_id: str, customer: Customer
) -> PaymentMethod:
    with transaction.atomic():
        method = _locked(merchant, livemode, payment_method_id)
        if method.detached_at is not None:
            raise InvalidRequestError(
                "This payment method was detached and cannot be used again.",
                code="payment_method_unexpected_state",
                param="payment_method",
            )
        if method.customer_id is not None and method.customer_id != customer.id:
            raise InvalidRequestError(
                "This payment method is attached to another customer.",
                code="payment_method_unexpected_state",
                param="customer",
            )
        if method.customer_id is None:
            method.customer = customer
            # A merchant's test-mode stand-in for pm_card_visa … becomes this customer's own card: the next use of
            # the name makes a new stand-in, so it never charges a card saved to somebody.
            method.test_alias = ""
            method.save(update_fields=["customer", "test_alias"])
    return method


def payment_method_detach(*, merchant: Merchant, livemode: bool, payment_method_id: str) -> PaymentMethod:
    """Detached for good: the card is never charged again (a new one is saved by giving it again)."""
    with transaction.atomic():
        method = _locked(merchant, livemode, payment_method_id)
        if method.detached_at is None:
            method.customer = None
            method.detached_at = timezone.now()
            method.save(update_fields=["customer", "detached_at"])
    return method


def customer_create(
    *, merchant: Merchant, livemode: bool, email: str = "", name: str = "", metadata: dict[str, str] | None = None
) -> Customer:
    customer = Customer(merchant=merchant, livemode=livemode, email=email, name=name, metadata=metadata or {})
    customer.save(force_insert=True)
    return customer


def customer_update(
    *,
    customer: Customer,
    email: str | None = None,
    name: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Customer:
    fields: list[str] = []
    if email is not None:
        customer.email, fields = email, [*fields, "email"]
    if name is not None:
        customer.name, fields = name, [*fields, "name"]
    if metadata is not None:
        # Stripe's merge semantics: a key set to "" removes it.
        merged = {**customer.metadata, **metadata}
        customer.metadata, fields = {k: v for k, v in merged.items() if v != ""}, [*fields, "metadata"]
    if fields:
        customer.save(update_fields=fields)
    return customer


def customer_delete(*, customer: Customer) -> Customer:
    """Gone from the API; its payment methods detached (never charged again). Its payments keep referring to it."""
    with transaction.atomic():
        now = timezone.now()
        PaymentMethod.objects.filter(customer=customer).update(customer=None, detached_at=now)
        customer.deleted_at = now
        customer.save(update_fields=["deleted_at"])
    return customer
