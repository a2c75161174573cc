from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from core.ids import new_id
from payments.enums import LateSuccessPolicy


def _merchant_id() -> str:
    return new_id("mch")


def _api_key_id() -> str:
    return new_id("key")


class Merchant(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_merchant_id, editable=False)
    name = models.CharField(max_length=200)
    email = models.EmailField()
    # The UPI network is retiring collect requests for most merchants: off unless a merchant is allowed it.
    upi_collect_enabled = models.BooleanField(default=False)
    upi_late_success_policy = models.CharField(max_length=10, choices=LateSuccessPolicy.choices, default="refund")
    created = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    # DRF treats the authenticated principal as request.user; a merchant authenticated by API key is one.
    @property
    def is_authenticated(self) -> bool:
        return True


class ApiKey(models.Model):
    """A merchant's secret key. Only its SHA-256 is stored; the admin shows prefix and last 4 characters."""

    id = models.CharField(primary_key=True, max_length=40, default=_api_key_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    livemode = models.BooleanField(default=False)
    prefix = models.CharField(max_length=16)
    last4 = models.CharField(max_length=4)
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(db_default=Now(), editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return self.redacted

    @property
    def redacted(self) -> str:
        return f"{self.prefix}…{self.last4}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
