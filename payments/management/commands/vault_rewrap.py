"""``manage.py vault_rewrap``: moves every card vault entry's data key under the active key-encryption key.

Rotation: add the new key to ``LEDGERLINE_VAULT_KEYS``, make it ``LEDGERLINE_VAULT_ACTIVE_KEY`` (new entries use it
at once), run this, and remove the old key once it reports nothing left under it.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from payments import vault
from payments.models import CardVaultEntry
from payments.services.vault import REWRAP_BATCH, vault_rewrap


class Command(BaseCommand):
    help = "Re-wraps the card vault's data keys under the active key-encryption key."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=REWRAP_BATCH)

    def handle(self, *args: Any, **options: Any) -> None:
        count = vault_rewrap(batch_size=options["batch_size"])
        active = vault.key_ring().active
        left = CardVaultEntry.objects.exclude(kek_id=active).count()
        self.stdout.write(f"re-wrapped {count} entries under {active!r}; {left} left under other keys")
