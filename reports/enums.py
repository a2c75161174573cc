from django.db import models


class ReportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ReportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


class ReportType(models.TextChoices):
    PAYMENTS = "payments", "Payments (with attempt outcomes)"
    BALANCE_TRANSACTIONS = "balance_transactions", "Balance transactions"
    REFUNDS = "refunds", "Refunds"
    DISPUTES = "disputes", "Disputes"
    PAYOUTS = "payouts", "Payouts"
    FEES = "fees", "Fees by connector and method"
    TRIAL_BALANCE = "trial_balance", "Ledger trial balance (as of the end date)"
    BALANCES_OWED = "balances_owed", "Merchant balances owed (as of the end date)"


# What a merchant may ask for through the API; the ledger-wide reports are the back office's only.
MERCHANT_REPORT_TYPES = [
    ReportType.PAYMENTS,
    ReportType.BALANCE_TRANSACTIONS,
    ReportType.REFUNDS,
    ReportType.DISPUTES,
    ReportType.PAYOUTS,
    ReportType.FEES,
]
