"""Settlement files as received, their lines staged for set-based matching, runs and the exception queue."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from reconciliation.enums import (
    DiscrepancyKind,
    DiscrepancyStatus,
    Resolution,
    SettlementFileSource,
    SettlementFileStatus,
)


class SettlementFile(models.Model):
    """One provider file exactly as received, its raw bytes kept unchanged.

    A file is identified by its connector, settlement date and content (SHA-256): two header-only files of different
    days or connectors are the same bytes but different files. A later file of the same connector-day with other
    content is a correction: it supersedes the earlier one (``superseded_by``), whose lines no longer count.
    """

    id = models.BigAutoField(primary_key=True)
    connector = models.CharField(max_length=40)
    settlement_date = models.DateField()
    sha256 = models.CharField(max_length=64)
    raw = models.FileField(upload_to="settlements/%Y/%m/")
    size = models.BigIntegerField()
    line_count = models.BigIntegerField(default=0)
    status = models.CharField(
        max_length=12, choices=SettlementFileStatus.choices, default=SettlementFileStatus.IMPORTED
    )
    source = models.CharField(max_length=10, choices=SettlementFileSource.choices)
    uploaded_by = models.CharField(max_length=150, blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes", db_index=False
    )
    created = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "settlement_date", "sha256"], name="settlement_file_identity")
        ]
        indexes = [models.Index(fields=["connector", "settlement_date"], name="settlement_file_day")]

    def __str__(self) -> str:
        return f"{self.connector} {self.settlement_date} ({self.sha256[:12]})"


class SettlementLine(models.Model):
    """Staging: one row per line of a file, bulk-loaded (COPY on PostgreSQL) and matched with joins.

    The file a line belongs to is a foreign key checked once per statement, not once per row: a day's million lines
    are one ``INSERT``, and PostgreSQL's own constraint would look the same file row up a million times at commit
    (4.8 s, more than the load itself). Triggers of migration 0007 keep the guarantee: every line names an existing
    file (checked over the statement's new rows, the files locked as the constraint would), and a file with lines
    cannot be deleted.
    """

    id = models.BigAutoField(primary_key=True)
    file = models.ForeignKey(
        SettlementFile, on_delete=models.PROTECT, related_name="lines", db_index=False, db_constraint=False
    )
    connector = models.CharField(max_length=40)
    line_number = models.BigIntegerField()
    batch_id = models.CharField(max_length=64)
    settlement_date = models.DateField()
    type = models.CharField(max_length=24)
    provider_reference = models.CharField(max_length=255)
    our_reference = models.CharField(max_length=255, blank=True)
    rrn = models.CharField(max_length=32, blank=True)
    currency = models.CharField(max_length=3)
    gross = models.BigIntegerField()
    fee = models.BigIntegerField()
    net = models.BigIntegerField()
    transaction_date = models.DateTimeField()
    original_provider_reference = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["file", "line_number"], name="settlement_line_file"),
            # The probe for an earlier line with the same key (a duplicate in this file or an earlier one, a settled
            # fact) is all index conditions, so the line itself, just loaded, is passed over in the index instead of
            # fetched from the table to be ruled out; with the line number in it, one probe finds both kinds.
            models.Index(
                fields=["connector", "provider_reference", "type", "file", "line_number"], name="settlement_line_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file_id}:{self.line_number} {self.type} {self.provider_reference}"


class InvalidSettlementLine(models.Model):
    """A line of a file that is not what its connector's format describes, and why, kept when the format queues bad
    lines instead of rejecting the file: reconciliation makes each an ``invalid_line`` discrepancy."""

    id = models.BigAutoField(primary_key=True)
    file = models.ForeignKey(SettlementFile, on_delete=models.PROTECT, related_name="invalid_lines", db_index=False)
    line_number = models.BigIntegerField()
    reason = models.CharField(max_length=500)
    fatal = models.BooleanField(default=False, help_text="makes the whole file unreadable (never kept)")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "line_number"], name="invalid_line_once")]

    def __str__(self) -> str:
        return f"{self.file_id}:{self.line_number} {self.reason}"


class ReconciliationRun(models.Model):
    id = models.BigAutoField(primary_key=True)
    file = models.ForeignKey(SettlementFile, on_delete=models.PROTECT, related_name="runs")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    lines = models.BigIntegerField(default=0)
    matched = models.BigIntegerField(default=0)
    unmatched = models.BigIntegerField(default=0, help_text="lines with a discrepancy")
    new_discrepancies = models.BigIntegerField(default=0)
    posted = models.BigIntegerField(default=0, help_text="settlement transactions written by this run")

    def __str__(self) -> str:
        return f"run {self.pk} of {self.file}"


class RunTotal(models.Model):
    """A run's totals in one currency (amounts of different currencies are never added together).

    The settlement side sums the file's lines; ``ledger_gross`` is what our ledger recorded for the matched lines
    (captures, refunds, chargebacks, read from the journal), so it differs from ``matched_gross`` when they do.
    """

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="totals")
    currency = models.CharField(max_length=3)
    lines = models.BigIntegerField(default=0)
    matched = models.BigIntegerField(default=0)
    settlement_gross = models.BigIntegerField(default=0)
    settlement_fee = models.BigIntegerField(default=0)
    settlement_net = models.BigIntegerField(default=0)
    matched_gross = models.BigIntegerField(default=0)
    ledger_gross = models.BigIntegerField(default=0, help_text="what our ledger recorded for the matched lines")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "currency"], name="run_total_currency")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.currency}"


class Discrepancy(models.Model):
    """One entry of the exception queue. Never edited away: resolved by an audited action, often a ledger posting.

    ``key`` identifies the fact (a line's provider reference, or a payment id), so re-running a day finds the same
    discrepancy instead of adding another; one fact has one discrepancy whatever its class, so a ``timing`` that
    stays unsettled becomes ``missing_at_provider`` in place, and a difference is never corrected twice.
    """

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=24, choices=DiscrepancyKind.choices)
    connector = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="discrepancies")
    file = models.ForeignKey(SettlementFile, on_delete=models.PROTECT, related_name="discrepancies")
    line_number = models.BigIntegerField(null=True, blank=True)
    provider_reference = models.CharField(max_length=255, blank=True)
    our_reference = models.CharField(max_length=255, blank=True)
    payment_id = models.CharField(max_length=40, blank=True)
    currency = models.CharField(max_length=3, blank=True, help_text="the settlement line's")
    our_currency = models.CharField(max_length=3, blank=True, help_text="what our ledger recorded it in")
    settlement_amount = models.BigIntegerField(null=True, blank=True)
    our_amount = models.BigIntegerField(null=True, blank=True)
    settlement_fee = models.BigIntegerField(null=True, blank=True)
    our_fee = models.BigIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.OPEN)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "key"], name="discrepancy_once_per_fact")]
        indexes = [
            models.Index(fields=["status", "kind", "connector"], name="discrepancy_queue"),
            models.Index(fields=["run"], name="discrepancy_run"),
        ]
        verbose_name_plural = "discrepancies"
        # Resolving posts ledger adjustments, so it is its own permission (given to Finance), not view or change.
        permissions = [("resolve_discrepancy", "Can resolve a discrepancy (posts ledger corrections)")]

    def __str__(self) -> str:
        return f"{self.kind} {self.connector} {self.key}"


class DiscrepancyResolution(models.Model):
    """The audit of every resolution: who, what, why, and the ledger transaction it wrote (if any)."""

    id = models.BigAutoField(primary_key=True)
    discrepancy = models.ForeignKey(Discrepancy, on_delete=models.PROTECT, related_name="resolutions")
    action = models.CharField(max_length=20, choices=Resolution.choices)
    actor = models.CharField(max_length=150)
    reason = models.CharField(max_length=500)
    journal_reference = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(db_default=Now(), editable=False)

    def __str__(self) -> str:
        return f"{self.action} of {self.discrepancy_id} by {self.actor}"
