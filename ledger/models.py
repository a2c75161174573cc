"""The journal: accounts, transactions and their entries.

Rows are written only by ``ledger.posting`` and never changed afterwards: the models refuse ``save()`` of an
existing row and ``delete()``, their querysets refuse ``update()`` and ``delete()``, and database triggers refuse
``UPDATE``, ``DELETE`` and ``TRUNCATE`` (see the migrations). Balances are never stored as a mutable number: each
entry carries its account's running sequence and the balance after it, so the newest entry is the balance.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.db.models.functions import Now

from core.ids import new_id
from ledger.enums import AccountType, Direction
from ledger.exceptions import ImmutableRecordError
from ledger.money import Money


def _account_id() -> str:
    return new_id("acc")


def _transaction_id() -> str:
    return new_id("txn")


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise ImmutableRecordError(f"{self.model.__name__} rows are never updated")

    def delete(self) -> NoReturn:
        raise ImmutableRecordError(f"{self.model.__name__} rows are never deleted")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecordError(f"{type(self).__name__} {self.pk} is immutable; post a reversal instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableRecordError(f"{type(self).__name__} {self.pk} is never deleted; post a reversal instead")


class Account(models.Model):
    """One balance in one currency. Created through ``ledger.accounts``, found by its stable ``code``."""

    id = models.CharField(primary_key=True, max_length=40, default=_account_id, editable=False)
    code = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=AccountType.choices)
    currency = models.CharField(max_length=3)
    # A plain column, not a foreign key: the ledger never imports payments, and it is the future shard key.
    merchant_id = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001 - NULL: a platform account
    non_negative = models.BooleanField(default=False)
    created = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(currency__regex=r"^[a-z]{3}$"), name="ledger_account_currency"),
            models.CheckConstraint(condition=models.Q(type__in=AccountType.values), name="ledger_account_type_valid"),
        ]
        indexes = [models.Index(fields=["merchant_id", "currency"], name="ledger_account_merchant")]

    def __str__(self) -> str:
        return self.code

    @property
    def debit_normal(self) -> bool:
        return AccountType(self.type).debit_normal


class JournalTransaction(AppendOnlyModel):
    """One business fact, posted once under its ``reference``; its entries balance to zero per currency."""

    id = models.CharField(primary_key=True, max_length=40, default=_transaction_id, editable=False)
    reference = models.CharField(max_length=255, unique=True)
    description = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField()
    posted_at = models.DateTimeField()
    source_type = models.CharField(max_length=64, blank=True)
    source_id = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # SHA-256 of the sorted entries: a replay of the reference is recognised without loading them.
    fingerprint = models.CharField(max_length=64)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    # When the money this transaction moved is (or was) available to the merchant, fixed when it is posted, so a
    # later change of the pending period never rewrites history. Captures: the end of their pending period;
    # everything else: the moment it was posted (NULL only on rows posted before this column existed).
    available_on = models.DateTimeField(null=True, blank=True)
    # HMAC-SHA256, under a key the database does not hold, of the transaction and its entries as the application
    # posted them (ledger.seal): a row changed or inserted behind the application's back no longer matches.
    mac = models.CharField(max_length=64, blank=True, db_default="")

    class Meta:
        ordering = ["-posted_at"]
        indexes = [
            models.Index(fields=["source_type", "source_id"], name="ledger_txn_source"),
            # The sealer's scan: transactions posted since the head of the chain.
            models.Index(fields=["posted_at"], name="ledger_txn_posted"),
        ]

    def __str__(self) -> str:
        return self.reference


class JournalEntry(AppendOnlyModel):
    """One side of a transaction on one account, with that account's running sequence and balance after it."""

    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(JournalTransaction, on_delete=models.PROTECT, related_name="entries")
    # unique(account, sequence) is the account's index; a second one on account alone would only slow inserts.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False)
    merchant_id = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001 - NULL: a platform account
    direction = models.CharField(max_length=6, choices=Direction.choices)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    sequence = models.BigIntegerField()
    # In the account's normal sign: credits raise a liability's balance, debits raise an asset's.
    balance_after = models.BigIntegerField()
    posted_at = models.DateTimeField()

    class Meta:
        ordering = ["account_id", "sequence"]
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(fields=["account", "sequence"], name="ledger_entry_account_sequence"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="ledger_entry_amount_positive"),
            models.CheckConstraint(condition=models.Q(sequence__gt=0), name="ledger_entry_sequence_positive"),
            models.CheckConstraint(
                condition=models.Q(direction__in=Direction.values), name="ledger_entry_direction_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "posted_at", "sequence"], name="ledger_entry_account_time"),
            models.Index(
                fields=["merchant_id", "-id"],
                name="ledger_entry_merchant",
                condition=models.Q(merchant_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount} {self.currency} {self.account_id} #{self.sequence}"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


class JournalSeal(AppendOnlyModel):
    """One link of the hash chain over posted transactions, appended by the sealer in the order it sealed them.

    ``chain`` is HMAC(key, previous chain + the transaction's MAC + its ``posted_at``), so removing, reordering or
    changing a sealed transaction breaks every later link. Sealing runs after commit, in batches, so it never
    serialises postings (see ``ledger.seal``).
    """

    id = models.BigAutoField(primary_key=True)
    # A plain column, not a foreign key: a transaction deleted out of band must leave its seal behind as evidence.
    transaction_id = models.CharField(max_length=40, unique=True)
    chain = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"seal {self.id} of {self.transaction_id}"


class JournalCheckpoint(AppendOnlyModel):
    """The head of the chain after a sealing batch. It is also logged (``ledger_sealed``), so a copy lives outside
    the database: a rewrite of the whole chain by someone holding the key still disagrees with the logs."""

    id = models.BigAutoField(primary_key=True)
    seal_id = models.BigIntegerField()
    chain = models.CharField(max_length=64)
    sealed = models.IntegerField(help_text="transactions sealed in the batch")
    created = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"checkpoint at seal {self.seal_id}"
