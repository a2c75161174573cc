"""The card vault's writes and its one read: store a card, reveal it to the executor, destroy a CVC, re-wrap keys.

``vault_card_reveal`` is called from one place only, the executor's provider call (``payments.services.attempts.call``),
where the number goes to the acquirer's tokenizer and is dropped again.
"""

from __future__ import annotations

import structlog
from django.db import transaction
from django.db.models.functions import Now

from core.db import new_row
from payments import vault
from payments.models import CardVaultEntry
from payments.models.vault import vault_entry_id

logger = structlog.get_logger(__name__)

REWRAP_BATCH = 500


def vault_card_store(*, merchant_id: str, number: str, exp_month: int, exp_year: int, cvc: str) -> CardVaultEntry:
    """An unsaved entry holding the card sealed; the caller inserts it with the rows that refer to it."""
    entry_id = vault_entry_id()
    sealed = vault.seal(entry_id=entry_id, number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc)
    return new_row(
        CardVaultEntry,
        id=entry_id,
        merchant_id=merchant_id,
        kek_id=sealed.kek_id,
        wrapped_key=sealed.wrapped_key,
        card_ciphertext=sealed.card,
        cvc_ciphertext=sealed.cvc,
    )


def vault_card_reveal(*, entry_id: str) -> vault.CardSecret:
    """The card in clear, for the executor's provider call only. Raises ``VaultError`` if it does not authenticate."""
    entry = CardVaultEntry.objects.only("kek_id", "wrapped_key", "card_ciphertext", "cvc_ciphertext").get(pk=entry_id)
    return vault.unseal(
        entry_id=entry.id,
        kek_id=entry.kek_id,
        wrapped_key=bytes(entry.wrapped_key),
        card=bytes(entry.card_ciphertext),
        cvc=bytes(entry.cvc_ciphertext) if entry.cvc_ciphertext is not None else None,
    )


def vault_cvc_destroy(*, entry_id: str) -> bool:
    """Forgets the CVC for good (called once an authorization was sent with it); True if there was one."""
    destroyed = CardVaultEntry.objects.filter(pk=entry_id, cvc_ciphertext__isnull=False).update(
        cvc_ciphertext=None, cvc_destroyed_at=Now()
    )
    return destroyed > 0


def vault_rewrap(*, batch_size: int = REWRAP_BATCH) -> int:
    """Re-wraps every data key not under the active key-encryption key; returns how many. Safe to run again or
    concurrently (rows are locked, skipped when another run holds them, and only ever move to the active key)."""
    active = vault.key_ring().active
    done = 0
    while True:
        with transaction.atomic():
            entries = list(
                CardVaultEntry.objects.select_for_update(skip_locked=True)
                .exclude(kek_id=active)
                .only("kek_id", "wrapped_key")
                .order_by("id")[:batch_size]
            )
            for entry in entries:
                entry.kek_id, entry.wrapped_key = vault.rewrap(
                    entry_id=entry.id, kek_id=entry.kek_id, wrapped_key=bytes(entry.wrapped_key)
                )
            CardVaultEntry.objects.bulk_update(entries, ["kek_id", "wrapped_key"])
        done += len(entries)
        if len(entries) < batch_size:
            break
    logger.info("vault_rewrapped", entries=done, kek_id=active)
    return done
