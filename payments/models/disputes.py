"""Disputes (chargebacks), created when a provider reports one, and the evidence files staged for them."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django_fsm import FSMField, FSMModelMixin, transition

from core.ids import new_id
from payments.enums import DisputeStatus
from payments.models.merchants import Merchant
from payments.models.payments import Payment

D = DisputeStatus


def _dispute_id() -> str:
    return new_id("dp")


def _file_id() -> str:
    return new_id("file")


def _provider_key() -> str:
    return f"lldp_{secrets.token_hex(16)}"


class Dispute(FSMModelMixin, models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_dispute_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField()
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes", db_index=False)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    fee = models.BigIntegerField(default=0, help_text="the dispute fee charged to the merchant")
    reason = models.CharField(max_length=64, blank=True)
    status = FSMField(max_length=16, choices=D.choices, default=D.NEEDS_RESPONSE, protected=True)
    evidence = models.JSONField(default=dict, blank=True, help_text="text fields and file ids")
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    # Why the provider refused the evidence we sent (e.g. its deadline passed by its clock): the merchant and the
    # back office see it; the dispute needs a response again.
    evidence_refused_reason = models.CharField(max_length=200, blank=True)
    connector = models.CharField(max_length=40)
    provider_reference = models.CharField(max_length=255)
    # Sent with every retry of the one evidence submission (or acceptance) the provider may see.
    provider_idempotency_key = models.CharField(max_length=64, default=_provider_key)
    closed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)
    updated = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "livemode", "-id"], name="dispute_merchant_list"),
            models.Index(fields=["evidence_due_by"], name="dispute_open_due", condition=Q(status="needs_response")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["connector", "provider_reference"], name="dispute_provider_unique"),
            models.CheckConstraint(condition=Q(status__in=D.values), name="dispute_status_valid"),
        ]

    def __str__(self) -> str:
        return self.id

    @transition(field=status, source=D.NEEDS_RESPONSE, target=D.UNDER_REVIEW)
    def submit(self) -> None:
        """Evidence goes to the provider, once."""

    @transition(field=status, source=D.UNDER_REVIEW, target=D.NEEDS_RESPONSE)
    def refuse_evidence(self, *, reason: str) -> None:
        """The provider refused the evidence: it never reached the issuer, so nobody is reviewing it."""
        self.evidence_refused_reason = reason[:200]

    @transition(field=status, source=D.NEEDS_RESPONSE, target=D.ACCEPTED)
    def accept(self) -> None:
        """The merchant gives up: the chargeback stands."""

    @transition(field=status, source=[D.NEEDS_RESPONSE, D.UNDER_REVIEW], target=D.WON)
    def mark_won(self) -> None:
        """The issuer sided with the merchant: the money comes back."""

    @transition(field=status, source=[D.NEEDS_RESPONSE, D.UNDER_REVIEW], target=D.LOST)
    def mark_lost(self) -> None:
        """The chargeback stands."""


class EvidenceFile(models.Model):
    """A file staged as dispute evidence, stored with the platform's storage backend (size and type checked)."""

    id = models.CharField(primary_key=True, max_length=40, default=_file_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+", db_index=False)
    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="files")
    file = models.FileField(upload_to="dispute_evidence/%Y/%m/")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    uploaded_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} ({self.name})"
