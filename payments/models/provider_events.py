"""Provider webhooks as received: each stored once before it is applied."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class ProviderEvent(models.Model):
    """A provider webhook, stored once per (connector, provider event id) before anything is done with it."""

    id = models.BigAutoField(primary_key=True)
    connector = models.CharField(max_length=40)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    body_sha256 = models.CharField(max_length=64, help_text="a different body under the same id is refused")
    payload = models.JSONField()
    received_at = models.DateTimeField(db_default=Now(), editable=False)
    deliveries = models.PositiveIntegerField(default=1, help_text="how many times the provider sent it")
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "event_id"], name="provider_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.connector}:{self.event_id} {self.type}"
