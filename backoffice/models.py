"""The back office's audit log: who did what, when, to which object, and how it looked before and after.

Append-only three times over, like the ledger: the model refuses to save an existing row or delete one, the
queryset refuses ``update()``/``delete()``, and a PostgreSQL trigger refuses UPDATE and DELETE.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class ImmutableAuditError(Exception):
    pass


class AuditLogQuerySet(models.QuerySet["AuditLogEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise ImmutableAuditError("audit log entries are never updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ImmutableAuditError("audit log entries are never deleted")


class AuditLogEntry(models.Model):
    id = models.BigAutoField(primary_key=True)
    created = models.DateTimeField(db_default=Now(), editable=False)
    # PROTECT: the log is append-only (a trigger refuses UPDATE), so SET NULL could only fail; a person who acted
    # stays on record and is deactivated rather than deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    username = models.CharField(max_length=150, help_text="kept even if the user is deleted")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    reason = models.CharField(max_length=500, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=500, blank=True, help_text="what the service said (or the error)")
    # The one-time token of the form that asked: a double click submits it twice, and the second is refused.
    form_token = models.CharField(max_length=64, null=True, blank=True, unique=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]
        permissions = [
            ("refund_payment", "Can refund a payment (up to the Support limit)"),
            ("refund_unlimited", "Can refund above the Support limit"),
            ("capture_payment", "Can capture a payment"),
            ("cancel_payment", "Can cancel a payment"),
            ("resolve_attempt", "Can resolve a provider attempt that needs a person"),
            ("handle_dispute", "Can upload evidence for, submit and accept disputes"),
            ("manage_payouts", "Can create and fail payouts"),
            ("view_reports", "Can view finance reports"),
            ("write_off_balance", "Can write off what a merchant owes (the platform takes the loss)"),
            ("detach_payment_method", "Can detach a customer's saved payment method (never charged again)"),
        ]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.username} {self.action} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableAuditError("audit log entries are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ImmutableAuditError("audit log entries are never deleted")
