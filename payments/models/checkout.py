"""Checkout sessions: a hosted payment page (``/checkout/cs_…``) for one amount, paid by card or UPI.

A session is ``open`` until one of its payments succeeds (``complete``) or its time runs out (``expired``). It holds
at most one payment in flight: a new payment is made only when the last one failed, so refreshing, double-submitting
or paying in two tabs never charges twice. Every service that changes a session locks its row; none of them locks a
payment, and the executor (which holds a payment's lock) locks the session after it, so the two never wait on each
other in opposite orders.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django_fsm import FSMField, FSMModelMixin, transition

from core.ids import new_id
from payments.enums import CheckoutSessionStatus
from payments.models.customers import Customer
from payments.models.merchants import Merchant
from payments.models.payments import Payment

S = CheckoutSessionStatus


def _checkout_session_id() -> str:
    # The id is the page's address, known to the payer only: the random tail makes it unguessable.
    return f"{new_id('cs')}{secrets.token_hex(4).upper()}"  # 37 characters: fits every object-id column


class CheckoutSession(FSMModelMixin, models.Model):
    id = models.CharField(primary_key=True, max_length=60, default=_checkout_session_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField()
    amount = models.BigIntegerField(help_text="minor units of currency")
    currency = models.CharField(max_length=3, help_text="lower-case ISO 4217")
    success_url = models.URLField(max_length=2000)
    cancel_url = models.URLField(max_length=2000)
    payment_methods = models.JSONField(help_text='the methods the payer may use: "card", "upi"')
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    customer_email = models.EmailField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = FSMField(max_length=16, choices=S.choices, default=S.OPEN, protected=True)
    expires_at = models.DateTimeField()
    # The session's latest payment: the one in flight, the failed one the payer may retry, or the one that paid.
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # How many payments the page made, and the key of the submission that made the latest one: the same key again
    # (a double submit, a second tab rendered at the same time) answers that payment instead of making another.
    attempt_count = models.PositiveIntegerField(default=0)
    attempt_key = models.CharField(max_length=64, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "livemode", "-id"], name="checkout_merchant_list"),
            # The executor finds the session of a payment that just succeeded.
            models.Index(fields=["payment"], name="checkout_payment", condition=Q(payment__isnull=False)),
            models.Index(fields=["expires_at"], name="checkout_open_expiry", condition=Q(status=S.OPEN)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="checkout_amount_positive"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[a-z]{3}$"), name="checkout_currency_format"),
            models.CheckConstraint(condition=Q(status__in=S.values), name="checkout_status_valid"),
            models.CheckConstraint(
                condition=Q(status=S.COMPLETE, completed_at__isnull=False, payment__isnull=False)
                | ~Q(status=S.COMPLETE),
                name="checkout_complete_has_payment",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    # A late success (UPI, the merchant's policy "fulfil") can complete a session that expired meanwhile: the payer
    # paid, and the merchant must hear of it.
    @transition(field=status, source=[S.OPEN, S.EXPIRED], target=S.COMPLETE)
    def complete(self, *, payment: Payment, at: datetime) -> None:
        self.payment = payment
        self.completed_at = at

    @transition(field=status, source=S.OPEN, target=S.EXPIRED)
    def expire(self) -> None:
        """No payment in flight and the time is up (or the merchant expired it)."""
