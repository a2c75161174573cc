"""A merchant's customers and the payment methods saved for them (cards live in the vault, never here)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from core.ids import new_id
from payments.enums import CardBrand, PaymentMethodType
from payments.models.merchants import Merchant
from payments.models.vault import CardVaultEntry


def _customer_id() -> str:
    return new_id("cus")


def _payment_method_id() -> str:
    return new_id("pm")


class Customer(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_customer_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField()
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)
    # DELETE keeps the row (payments refer to it) but it is gone from the API and its payment methods detached.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "livemode", "-id"], name="customer_merchant_list")]

    def __str__(self) -> str:
        return self.id


class PaymentMethod(models.Model):
    """A card (brand, last 4, expiry, fingerprint; the number in the vault) or a UPI id, once given to us.

    ``provider_tokens`` holds the acquirers' tokens for the card, one per acquirer, made by the executor the first
    time an attempt of this card runs there and reused by every later payment and by failover.
    """

    id = models.CharField(primary_key=True, max_length=40, default=_payment_method_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField()
    type = models.CharField(max_length=10, choices=PaymentMethodType.choices)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="payment_methods", db_index=False
    )
    card_brand = models.CharField(max_length=16, choices=CardBrand.choices, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    upi_vpa = models.CharField(max_length=255, blank=True)
    vault_entry = models.OneToOneField(
        CardVaultEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="payment_method"
    )
    provider_tokens = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)
    # Detached (by the merchant, support, or its customer's deletion): never charged again.
    detached_at = models.DateTimeField(null=True, blank=True)
    # Test mode: the Stripe test payment method (``pm_card_visa`` …) this row stands for. Every use of that name by
    # the merchant charges this one row (unique while not detached), instead of a new row and vault entry per use.
    # A database default too, so a row inserted without it (raw SQL, an older process during a deploy) is no alias.
    test_alias = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "livemode", "-id"], name="pm_merchant_list"),
            models.Index(fields=["customer", "-id"], name="pm_customer", condition=Q(customer__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=PaymentMethodType.values), name="pm_type_valid"),
            models.CheckConstraint(condition=Q(card_last4__regex=r"^([0-9]{4})?$"), name="pm_card_last4_digits"),
            # The ground truth of "one per merchant" when two first uses race (payment_method_test_get_or_create).
            models.UniqueConstraint(
                fields=["merchant", "test_alias"],
                condition=~Q(test_alias="") & Q(detached_at__isnull=True),
                name="pm_test_alias_unique",
            ),
            models.CheckConstraint(condition=Q(test_alias="") | Q(livemode=False), name="pm_test_alias_test_mode"),
        ]

    def __str__(self) -> str:
        return self.id
