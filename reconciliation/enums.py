from django.db import models


class SettlementFileStatus(models.TextChoices):
    IMPORTED = "imported", "Imported"  # lines staged, not reconciled yet
    RECONCILED = "reconciled", "Reconciled"
    SUPERSEDED = "superseded", "Superseded by a corrected file"


class SettlementFileSource(models.TextChoices):
    NIGHTLY = "nightly", "Nightly fetch"
    UPLOAD = "upload", "Admin upload"
    COMMAND = "command", "manage.py reconcile"


class DiscrepancyKind(models.TextChoices):
    MISSING_IN_LEDGER = "missing_in_ledger", "Missing in ledger"  # the provider settled what we never recorded
    MISSING_AT_PROVIDER = "missing_at_provider", "Missing at provider"  # captured, never settled, past the delay
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    FEE_MISMATCH = "fee_mismatch", "Fee mismatch"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency mismatch"
    STATUS_MISMATCH = "status_mismatch", "Status mismatch"  # e.g. we say failed, the provider settled
    LATE_SUCCESS = "late_success", "Late success"  # UPI success after our expiry or failure
    DUPLICATE = "duplicate", "Duplicate"
    REFUND_NETTING = "refund_netting", "Refund netted, no refund of ours"
    TIMING = "timing", "Timing"  # not in the batch it was expected in; clears itself when it arrives
    INVALID_LINE = "invalid_line", "Invalid line"  # not what the provider's format describes; nothing known to post


class DiscrepancyStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Resolution(models.TextChoices):
    MATCHED_MANUALLY = "matched_manually", "Matched manually"
    WRITTEN_OFF = "written_off", "Written off to suspense"
    REFUNDED = "refunded", "Late success refunded"
    FULFILLED = "fulfilled", "Late success fulfilled"
    AUTO_CLEARED = "auto_cleared", "Cleared by a later file"
