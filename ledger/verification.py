"""Recomputes the whole ledger from its entries and lists every way it disagrees with itself.

Run nightly (``ledger.tasks.verify_ledger_task``) and on demand (``manage.py verify_ledger``). Each check is one
set-based query that works on PostgreSQL and SQLite; at most ``limit`` violations are listed per check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from ledger.enums import AccountType

_SIGNED = "CASE WHEN e.direction = 'debit' THEN e.amount ELSE -e.amount END"
_DEBIT_NORMAL = ", ".join(f"'{t}'" for t in AccountType if t.debit_normal)
# A balance grows with the account's normal side: debits for assets and expenses, credits for the rest.
_NORMAL_SIGNED = f"CASE WHEN (e.direction = 'debit') = (a.type IN ({_DEBIT_NORMAL})) THEN e.amount ELSE -e.amount END"

CHECKS: dict[str, str] = {
    "unbalanced_transaction": f"""
        SELECT e.transaction_id, e.currency || ' debits minus credits = ' || SUM({_SIGNED})
          FROM ledger_journalentry e GROUP BY e.transaction_id, e.currency HAVING SUM({_SIGNED}) <> 0
          ORDER BY e.transaction_id""",
    "too_few_entries": """
        SELECT t.id, COUNT(e.id) || ' entries' FROM ledger_journaltransaction t
          LEFT JOIN ledger_journalentry e ON e.transaction_id = t.id
          GROUP BY t.id HAVING COUNT(e.id) < 2 ORDER BY t.id""",
    "entry_account_mismatch": """
        SELECT e.id, 'entry ' || e.currency || '/' || COALESCE(e.merchant_id, '-') || ' on account '
               || a.id || ' ' || a.currency || '/' || COALESCE(a.merchant_id, '-')
          FROM ledger_journalentry e JOIN ledger_account a ON a.id = e.account_id
          WHERE e.currency <> a.currency OR COALESCE(e.merchant_id, '') <> COALESCE(a.merchant_id, '')
          ORDER BY e.id""",
    "non_positive_amount": """
        SELECT e.id, 'amount ' || e.amount FROM ledger_journalentry e WHERE e.amount <= 0 ORDER BY e.id""",
    "running_balance": f"""
        SELECT account_id, 'entry ' || id || ': sequence ' || sequence || ' (expected ' || expected_sequence
               || '), balance_after ' || balance_after || ' (expected ' || expected_balance || ')'
          FROM (SELECT e.account_id, e.id, e.sequence, e.balance_after,
                       ROW_NUMBER() OVER w AS expected_sequence,
                       SUM({_NORMAL_SIGNED}) OVER w AS expected_balance
                  FROM ledger_journalentry e JOIN ledger_account a ON a.id = e.account_id
                WINDOW w AS (PARTITION BY e.account_id ORDER BY e.sequence ROWS UNBOUNDED PRECEDING)) x
          WHERE sequence <> expected_sequence OR balance_after <> expected_balance
          ORDER BY account_id, sequence""",
    "negative_balance": """
        SELECT a.id, 'entry ' || e.id || ' leaves ' || e.balance_after || ' on a non-negative account'
          FROM ledger_journalentry e JOIN ledger_account a ON a.id = e.account_id
          WHERE a.non_negative AND e.balance_after < 0 ORDER BY e.id""",
    "ledger_total": f"""
        SELECT e.currency, 'all debits minus all credits = ' || SUM({_SIGNED})
          FROM ledger_journalentry e GROUP BY e.currency HAVING SUM({_SIGNED}) <> 0 ORDER BY e.currency""",
}


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


@dataclass(slots=True)
class VerificationReport:
    accounts: int = 0
    transactions: int = 0
    entries: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"{len(self.violations)} violation(s)"
        return (
            f"ledger verified: {self.accounts} accounts, {self.transactions} transactions, "
            f"{self.entries} entries: {verdict}"
        )


def verify_ledger(*, limit: int = 100) -> VerificationReport:
    report = VerificationReport()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM ledger_account), (SELECT COUNT(*) FROM ledger_journaltransaction),"
            " (SELECT COUNT(*) FROM ledger_journalentry)"
        )
        report.accounts, report.transactions, report.entries = cursor.fetchone()
        for check, sql in CHECKS.items():
            cursor.execute(f"{sql} LIMIT {int(limit)}")
            report.violations += [Violation(check, str(subject), str(detail)) for subject, detail in cursor.fetchall()]
    return report
