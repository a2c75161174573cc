"""Refunds and payouts: money going back to a payer, or out to the merchant's bank.

Each lifecycle is a django-fsm machine declared here; ``payments.services.refunds`` / ``payouts`` lock, transition,
save, and write the ledger and the outbox in the same transaction.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django_fsm import FSMField, FSMModelMixin, transition

from core.ids import new_id
from payments.enums import PayoutStatus, RefundReason, RefundStatus
from payments.models.merchants import Merchant
from payments.models.payments import Payment

R = RefundStatus
P = PayoutStatus


def _refund_id() -> str:
    return new_id("re")


def _payout_id() -> str:
    return new_id("po")


class Refund(FSMModelMixin, models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_refund_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField()
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds", db_index=False)
    amount = models.BigIntegerField(help_text="minor units of currency")
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=32, choices=RefundReason.choices, blank=True)
    status = FSMField(max_length=16, choices=R.choices, default=R.PENDING, protected=True)
    metadata = models.JSONField(default=dict, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    # Who asked: "api" or "admin:<username>" (the back office's audit log has the details).
    requested_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)
    updated = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "livemode", "-id"], name="refund_merchant_list"),
            models.Index(fields=["payment", "id"], name="refund_payment"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=R.values), name="refund_status_valid"),
        ]

    def __str__(self) -> str:
        return self.id

    @transition(field=status, source=R.PENDING, target=R.SUCCEEDED)
    def mark_succeeded(self) -> None:
        """The provider refunded the payer."""

    @transition(field=status, source=R.PENDING, target=R.FAILED)
    def mark_failed(self, *, reason: str) -> None:
        """The provider refused, or accepted and failed later: the amount goes back to the merchant."""
        self.failure_reason = reason[:200]

    @transition(field=status, source=R.PENDING, target=R.CANCELED)
    def cancel(self) -> None:
        """Only while the provider provably never saw it."""


class Payout(FSMModelMixin, models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_payout_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField()
    amount = models.BigIntegerField(help_text="minor units of currency")
    currency = models.CharField(max_length=3)
    status = FSMField(max_length=16, choices=P.choices, default=P.PENDING, protected=True)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    arrival_date = models.DateTimeField(null=True, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)
    updated = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "livemode", "-id"], name="payout_merchant_list"),
            models.Index(
                fields=["status", "id"], name="payout_open", condition=Q(status__in=["pending", "in_transit"])
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=P.values), name="payout_status_valid"),
        ]

    def __str__(self) -> str:
        return self.id

    @transition(field=status, source=P.PENDING, target=P.IN_TRANSIT)
    def send(self) -> None:
        """Handed to the bank."""

    @transition(field=status, source=P.IN_TRANSIT, target=P.PAID)
    def mark_paid(self) -> None:
        """The bank says it arrived."""

    # A payout the bank returns after paid fails too: its amount comes back to the available balance.
    @transition(field=status, source=[P.PENDING, P.IN_TRANSIT, P.PAID], target=P.FAILED)
    def mark_failed(self, *, code: str) -> None:
        self.failure_code = code[:64]

    @transition(field=status, source=P.PENDING, target=P.CANCELED)
    def cancel(self) -> None:
        """Only before it is handed to the bank."""
