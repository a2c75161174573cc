from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from payments.enums import IdempotencyStatus
from payments.models.merchants import Merchant


class IdempotencyKey(models.Model):
    """A merchant's ``Idempotency-Key`` and the first response given under it (see services.idempotency).

    Only a keyed hash of the request is kept (``fingerprint``), never its body, so card numbers in a request never
    land here; the stored response is the API's representation, which holds none either.
    """

    id = models.BigAutoField(primary_key=True)
    # The unique constraint's index starts with merchant; a separate one would only slow every insert.
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+", db_index=False)
    livemode = models.BooleanField()
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="HMAC-SHA256 of method, path and canonical body")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    status = models.CharField(max_length=12, choices=IdempotencyStatus.choices, default=IdempotencyStatus.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    # The exact bytes first sent: jsonb reorders keys, and a replay must be byte-identical (api-contract.md).
    response_content = models.TextField(blank=True, db_default="")  # "" until completed (the claim is raw SQL)
    created = models.DateTimeField(db_default=Now(), editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "livemode", "key"], name="idempotency_key_unique"),
            models.CheckConstraint(condition=Q(status__in=IdempotencyStatus.values), name="idempotency_status_valid"),
            models.CheckConstraint(
                condition=Q(status=IdempotencyStatus.IN_PROGRESS) | Q(response_status__isnull=False),
                name="idempotency_completed_has_response",
            ),
        ]
        indexes = [models.Index(fields=["created"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.merchant_id}:{self.key}"
