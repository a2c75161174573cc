"""The card vault: the one table that holds card numbers, and only as ciphertext (``payments.vault``)."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from core.ids import new_id
from payments.models.merchants import Merchant


def vault_entry_id() -> str:
    return new_id("vlt")


class CardVaultEntry(models.Model):
    """A card's number and expiry (and its CVC until the first authorization), sealed under the entry's own data key,
    which is stored wrapped under the key-encryption key ``kek_id``. Nothing here is readable without that key."""

    id = models.CharField(primary_key=True, max_length=40, default=vault_entry_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+", db_index=False)
    kek_id = models.CharField(max_length=64)
    wrapped_key = models.BinaryField()
    card_ciphertext = models.BinaryField()
    # PCI DSS: no sensitive authentication data after authorization. Set to NULL once an authorization was sent.
    cvc_ciphertext = models.BinaryField(null=True, blank=True)
    cvc_destroyed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["kek_id"], name="vault_entry_kek")]

    def __str__(self) -> str:
        return self.id
