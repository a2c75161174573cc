"""Payments, their provider attempts and their state history.

The payment's lifecycle is one django-fsm state machine declared here, once. Transitions only change the in-memory
object; ``payments.services.payments`` locks the row, calls the transition, saves, and writes the history row and
the outbox event in the same transaction. ``status`` is protected: nothing assigns it directly.
"""

from __future__ import annotations

import datetime as _dt
import secrets
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now, Upper
from django_fsm import FSMField, FSMModelMixin, transition

from core.ids import new_id
from payments.enums import (
    AttemptOperation,
    AttemptOutcome,
    CancellationReason,
    CaptureMethod,
    CardBrand,
    PaymentMethodType,
    PaymentStatus,
    UpiFlow,
)
from payments.models.merchants import Merchant

S = PaymentStatus


def _payment_id() -> str:
    return new_id("pay")


def _attempt_id() -> str:
    return new_id("att")


def _provider_idempotency_key() -> str:
    # Sent to the provider with every retry of one attempt; never regenerated while the outcome is unknown.
    return f"llatt_{secrets.token_hex(16)}"


class Payment(FSMModelMixin, models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_payment_id, editable=False)
    # Indexed by the composite list indexes below, which start with merchant.
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payments", db_index=False)
    livemode = models.BooleanField()
    amount = models.BigIntegerField(help_text="minor units of currency")
    currency = models.CharField(max_length=3, help_text="lower-case ISO 4217")
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    status = FSMField(max_length=32, choices=S.choices, default=S.REQUIRES_CONFIRMATION, protected=True)
    capture_method = models.CharField(max_length=10, choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC)
    description = models.CharField(max_length=1000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    customer_email = models.EmailField(blank=True)

    payment_method_type = models.CharField(max_length=10, choices=PaymentMethodType.choices)
    # Card: never the number. The fingerprint is an HMAC of the number under a settings secret.
    card_brand = models.CharField(max_length=16, choices=CardBrand.choices, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    upi_flow = models.CharField(max_length=10, choices=UpiFlow.choices, blank=True)
    upi_vpa = models.CharField(max_length=255, blank=True)
    upi_rrn = models.CharField(max_length=32, blank=True, help_text="the bank's reference, once known")
    upi_expires_in = models.PositiveIntegerField(null=True, blank=True, help_text="seconds in requires_action")
    # The provider's token per acquirer (tokenized at the API edge, so the number itself never reaches storage);
    # one per connector of the card route, so a payment can fail over to the next acquirer.
    card_tokens = models.JSONField(default=dict, blank=True)

    psp = models.CharField(max_length=40, blank=True, help_text="the connector that processes the payment")
    next_action = models.JSONField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="when requires_action gives up (UPI)")
    capture_before = models.DateTimeField(null=True, blank=True, help_text="when an uncaptured authorization lapses")
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    cancellation_reason = models.CharField(max_length=32, choices=CancellationReason.choices, blank=True)
    disputed = models.BooleanField(default=False)
    # When the provider reported that it took the money after the payment had failed or been canceled on our side.
    late_succeeded_at = models.DateTimeField(null=True, blank=True)
    # The merchant's money from this payment while it waits in the pending balance (payments.services.funds): set
    # to the captured net at capture, reduced by what its refunds and disputes draw on it, moved to available (and
    # set to zero) by its release on ``funds_available_on``. Only ever changed under the payment's row lock.
    funds_pending = models.BigIntegerField(default=0)
    funds_available_on = models.DateTimeField(null=True, blank=True)
    funds_released_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)
    updated = models.DateTimeField(db_default=Now())

    # The attempts a service just wrote or read under the row lock, so the response that follows needs no query.
    known_attempts: list[PaymentAttempt] | None = None

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Every list is one merchant's objects of one mode, newest first (ids are time-ordered).
            models.Index(fields=["merchant", "livemode", "-id"], name="payment_merchant_list"),
            models.Index(fields=["merchant", "livemode", "status", "-id"], name="payment_merchant_status"),
            # The expiry sweep's two queries only ever look at the few payments waiting in these states.
            models.Index(fields=["expires_at"], name="payment_action_expiry", condition=Q(status=S.REQUIRES_ACTION)),
            models.Index(
                fields=["capture_before"], name="payment_capture_expiry", condition=Q(status=S.REQUIRES_CAPTURE)
            ),
            models.Index(fields=["card_last4"], name="payment_card_last4", condition=~Q(card_last4="")),
            # The back office's search box: a customer's email or VPA (any case), a UPI RRN.
            models.Index(Upper("customer_email"), name="payment_customer_email", condition=~Q(customer_email="")),
            models.Index(Upper("upi_vpa"), name="payment_upi_vpa", condition=~Q(upi_vpa="")),
            models.Index(fields=["upi_rrn"], name="payment_upi_rrn", condition=~Q(upi_rrn="")),
            # The release task's queue: captured payments whose funds still wait.
            models.Index(
                fields=["funds_available_on"],
                name="payment_funds_due",
                condition=Q(funds_released_at__isnull=True, funds_available_on__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_captured__gte=0, amount_captured__lte=F("amount")), name="payment_captured_le_amount"
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0, amount_refunded__lte=F("amount_captured")),
                name="payment_refunded_le_captured",
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[a-z]{3}$"), name="payment_currency_format"),
            models.CheckConstraint(condition=Q(status__in=S.values), name="payment_status_valid"),
            models.CheckConstraint(
                condition=Q(payment_method_type__in=PaymentMethodType.values), name="payment_method_type_valid"
            ),
            models.CheckConstraint(condition=Q(card_last4__regex=r"^([0-9]{4})?$"), name="payment_card_last4_digits"),
            models.CheckConstraint(condition=Q(funds_pending__gte=0), name="payment_funds_pending_not_negative"),
        ]

    def __str__(self) -> str:
        return self.id

    # --- the state machine: every transition of the contract, declared once -------------------------------------
    @transition(field=status, source=S.REQUIRES_CONFIRMATION, target=S.PROCESSING)
    def confirm(self) -> None:
        """Handed to the executor; the provider is called after commit, never in the request."""

    @transition(field=status, source=S.PROCESSING, target=S.REQUIRES_ACTION)
    def mark_requires_action(self, *, next_action: dict[str, Any]) -> None:
        self.next_action = next_action

    @transition(field=status, source=[S.PROCESSING, S.REQUIRES_ACTION], target=S.REQUIRES_CAPTURE)
    def mark_requires_capture(self) -> None:
        self.next_action = None

    @transition(field=status, source=[S.PROCESSING, S.REQUIRES_ACTION], target=S.SUCCEEDED)
    def mark_succeeded(self) -> None:
        """The provider authorized and captured the full amount (automatic capture)."""
        self.amount_captured = self.amount
        self.next_action = None

    @transition(field=status, source=S.REQUIRES_CAPTURE, target=S.SUCCEEDED)
    def capture(self, *, amount: int) -> None:
        """Manual capture of ``amount`` (at most the authorized amount; partial once, the rest is released)."""
        self.amount_captured = amount

    @transition(field=status, source=[S.PROCESSING, S.REQUIRES_ACTION], target=S.FAILED)
    def mark_failed(self, *, code: str, message: str) -> None:
        self.failure_code = code
        self.failure_message = message[:500]
        self.next_action = None

    @transition(field=status, source=S.REQUIRES_ACTION, target=S.FAILED)
    def expire(self) -> None:
        """The payer did not approve in time (UPI); a later success from the provider is handled as a late one."""
        self.failure_code = "payment_expired"
        self.failure_message = "The payer did not complete the payment before it expired."
        self.next_action = None

    @transition(field=status, source=[S.FAILED, S.CANCELED], target=None)
    def record_late_success(self, *, at: _dt.datetime) -> None:
        """The provider took the money after we gave up (UPI "deemed" success), and the merchant's policy refunds it:
        the payment stays failed, but what was captured is on it, and the refund that follows counts against it."""
        self.amount_captured = self.amount
        self.late_succeeded_at = at

    @transition(field=status, source=[S.FAILED, S.CANCELED], target=S.SUCCEEDED)
    def succeed_late(self, *, at: _dt.datetime) -> None:
        """The provider took the money after we gave up, and the merchant's policy keeps it (``fulfil``)."""
        self.amount_captured = self.amount
        self.late_succeeded_at = at
        self.failure_code = ""
        self.failure_message = ""

    @transition(
        field=status, source=[S.REQUIRES_CONFIRMATION, S.REQUIRES_ACTION, S.REQUIRES_CAPTURE], target=S.CANCELED
    )
    def cancel(self, *, reason: str = "") -> None:
        """Only before capture: a processing payment's provider call is in flight, a succeeded one is captured."""
        self.cancellation_reason = reason
        self.next_action = None


class PaymentAttempt(models.Model):
    """One provider call for a payment: the executor's unit of work, persisted before the call is made."""

    id = models.CharField(primary_key=True, max_length=40, default=_attempt_id, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="attempts", db_index=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField()
    operation = models.CharField(max_length=10, choices=AttemptOperation.choices, default=AttemptOperation.AUTHORIZE)
    amount = models.BigIntegerField()
    connector = models.CharField(max_length=40, blank=True, help_text="chosen by routing when the attempt runs")
    idempotency_key = models.CharField(max_length=64, unique=True, default=_provider_idempotency_key)
    provider_reference = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.PENDING)
    request_summary = models.JSONField(default=dict, blank=True)
    response_summary = models.JSONField(default=dict, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The executor's claim: set (committed) before the provider call, cleared when its outcome is applied. A worker
    # killed mid-call leaves it set; once it is older than PSP_ATTEMPT_STALE_SECONDS the janitor takes over.
    locked_at = models.DateTimeField(null=True, blank=True)
    # When the janitor next asks the provider about this attempt (unknown outcome, payer still deciding, refund
    # being processed), and how many times it already asked.
    next_check_at = models.DateTimeField(null=True, blank=True)
    checks = models.PositiveIntegerField(default=0)
    fee = models.BigIntegerField(null=True, blank=True, help_text="the provider's own cost, as it reported it")
    review_reason = models.CharField(
        max_length=500, blank=True, help_text="set when a person must resolve this attempt (shown in the admin)"
    )
    # The merchant's refund this attempt carries out (a refund attempt the executor started itself has none).
    refund = models.OneToOneField(
        "payments.Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="attempt"
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["payment", "id"], name="attempt_payment"),
            # The janitor's queries only look at the few attempts not finished yet.
            models.Index(
                fields=["next_check_at"], name="attempt_next_check", condition=Q(outcome__in=["pending", "unknown"])
            ),
            models.Index(fields=["locked_at"], name="attempt_locked", condition=Q(outcome="pending")),
            models.Index(fields=["id"], name="attempt_review", condition=~Q(review_reason="")),
            models.Index(
                fields=["provider_reference"], name="attempt_provider_ref", condition=~Q(provider_reference="")
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="attempt_amount_positive"),
            models.CheckConstraint(condition=Q(outcome__in=AttemptOutcome.values), name="attempt_outcome_valid"),
            models.CheckConstraint(condition=Q(operation__in=AttemptOperation.values), name="attempt_operation_valid"),
        ]

    def __str__(self) -> str:
        return self.id


class PaymentStateChange(models.Model):
    """Append-only history: one row per transition, written in the transaction that made it."""

    id = models.BigAutoField(primary_key=True)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="state_changes", db_index=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+", db_index=False)
    from_status = models.CharField(max_length=32, blank=True, help_text="empty for the creation")
    to_status = models.CharField(max_length=32)
    transition = models.CharField(max_length=40)
    attempt = models.ForeignKey(
        PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    request_id = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["payment", "id"], name="payment_state_change_payment")]

    def __str__(self) -> str:
        return f"{self.payment_id}: {self.from_status or '∅'} → {self.to_status}"
