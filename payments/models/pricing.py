"""What the platform charges a merchant per payment method."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from payments.enums import PaymentMethodType
from payments.models.merchants import Merchant


class MerchantPricing(models.Model):
    """What the platform charges a merchant per payment method: basis points of the amount plus a fixed part.

    Without a row the defaults in ``settings.PRICING_DEFAULTS`` apply. The provider's own cost is separate: it
    comes from the provider's responses (``PaymentAttempt.fee``) and settlement files.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="pricing")
    payment_method_type = models.CharField(max_length=10, choices=PaymentMethodType.choices)
    fee_bps = models.PositiveIntegerField(help_text="basis points of the amount (290 = 2.9%)")
    fee_fixed = models.PositiveBigIntegerField(default=0, help_text="minor units added to every payment")

    class Meta:
        verbose_name_plural = "merchant pricing"
        constraints = [
            models.UniqueConstraint(fields=["merchant", "payment_method_type"], name="pricing_one_per_method"),
            models.CheckConstraint(condition=Q(fee_bps__lte=10_000), name="pricing_bps_at_most_100_percent"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.payment_method_type}: {self.fee_bps} bps + {self.fee_fixed}"
