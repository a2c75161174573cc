"""Recomputes the whole ledger from its entries and lists every way it disagrees with itself.

Run nightly (``ledger.tasks.verify_ledger_task``) and on demand (``manage.py verify_ledger``). Three kinds of check:

* **Bookkeeping**: every transaction balances, running balances and sequences recompute, flagged accounts never
  went below zero, the whole ledger sums to zero per currency.
* **Business invariants** (docs/balances.md): a merchant's pending funds never go below zero and a payment's
  release never moves more than its capture left there, nor before its ``available_on``; a payout never takes the
  available balance below zero, i.e. never pays a merchant more than it earned net of refunds, disputes and fees; the
  platform's loss accounts move only by explicit write-offs, and a write-off never exceeds what was owed.
* **Integrity** (``ledger.seal``): every transaction's MAC matches its rows, the chain of seals links up, every
  checkpoint (and an optional anchor kept outside the database) agrees with the chain, and nothing older than the
  sealer's window is left unsealed.

The first two are set-based queries on PostgreSQL and SQLite; the third streams the journal in batches. At most
``limit`` violations are listed per check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from ledger.accounts import LOSS_ACCOUNT_SUFFIXES, WRITE_OFF_SOURCE
from ledger.enums import AccountType
from ledger.seal import SEAL_WINDOW, chain_link, stored_transactions

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

_MERCHANT = "a.merchant_id IS NOT NULL AND a.code LIKE 'merchant:%%:%s'"
_LOSS_ACCOUNT = " OR ".join(f"a.code LIKE 'platform:%%{suffix}'" for suffix in LOSS_ACCOUNT_SUFFIXES)


def _payment_of(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"({column}->>'payment_id')"
    return f"json_extract({column}, '$.payment_id')"


def _business_checks() -> dict[str, str]:
    """The rules of docs/balances.md, each a query listing what breaks it (built per call: JSON access differs
    between PostgreSQL and SQLite)."""
    pending, available = _MERCHANT % "pending", _MERCHANT % "available"
    return {
        "merchant_pending_negative": f"""
            SELECT a.id, 'entry ' || e.id || ' of ' || t.reference || ' leaves ' || e.balance_after
                   || ' of pending funds'
              FROM ledger_journalentry e JOIN ledger_account a ON a.id = e.account_id
              JOIN ledger_journaltransaction t ON t.id = e.transaction_id
             WHERE {pending} AND e.balance_after < 0 ORDER BY e.id""",
        "payout_exceeds_earnings": f"""
            SELECT t.id, t.reference || ' left the available balance at ' || e.balance_after
              FROM ledger_journalentry e JOIN ledger_account a ON a.id = e.account_id
              JOIN ledger_journaltransaction t ON t.id = e.transaction_id
             WHERE {available} AND t.source_type = 'payout' AND e.direction = 'debit' AND e.balance_after < 0
             ORDER BY e.id""",
        "release_exceeds_pending_funds": f"""
            SELECT c.source_id, 'released ' || r.released || ' of ' || c.net || ' captured, after '
                   || COALESCE(d.drawn, 0) || ' drawn by its refunds and disputes'
              FROM (SELECT t.source_id, SUM(e.amount) AS net FROM ledger_journaltransaction t
                      JOIN ledger_journalentry e ON e.transaction_id = t.id JOIN ledger_account a ON a.id = e.account_id
                     WHERE t.reference LIKE 'payment:%%:capture' AND {pending} GROUP BY t.source_id) c
              JOIN (SELECT t.source_id, SUM(e.amount) AS released FROM ledger_journaltransaction t
                      JOIN ledger_journalentry e ON e.transaction_id = t.id JOIN ledger_account a ON a.id = e.account_id
                     WHERE t.reference LIKE 'payment:%%:release' AND {pending} AND e.direction = 'debit'
                     GROUP BY t.source_id) r ON r.source_id = c.source_id
              LEFT JOIN (SELECT {_payment_of("t.metadata")} AS payment_id, SUM({_SIGNED}) AS drawn
                           FROM ledger_journaltransaction t JOIN ledger_journalentry e ON e.transaction_id = t.id
                           JOIN ledger_account a ON a.id = e.account_id
                          WHERE t.source_type IN ('refund', 'dispute') AND {pending}
                          GROUP BY 1) d ON d.payment_id = c.source_id
             WHERE r.released + COALESCE(d.drawn, 0) > c.net ORDER BY c.source_id""",
        "release_before_due": """
            SELECT r.source_id, 'released at ' || r.occurred_at || ', available on ' || c.available_on
              FROM ledger_journaltransaction r JOIN ledger_journaltransaction c
                ON c.reference = 'payment:' || r.source_id || ':capture'
             WHERE r.reference LIKE 'payment:%%:release' AND r.occurred_at < c.available_on ORDER BY r.source_id""",
        "loss_without_write_off": f"""
            SELECT t.id, t.reference || ' moved ' || e.amount || ' on ' || a.code || ' without a write-off'
              FROM ledger_journalentry e JOIN ledger_account a ON a.id = e.account_id
              JOIN ledger_journaltransaction t ON t.id = e.transaction_id
             WHERE ({_LOSS_ACCOUNT}) AND t.source_type <> '{WRITE_OFF_SOURCE}' ORDER BY e.id""",
        "write_off_exceeds_owed": f"""
            SELECT t.id, t.reference || ' took the available balance to ' || e.balance_after
              FROM ledger_journalentry e JOIN ledger_account a ON a.id = e.account_id
              JOIN ledger_journaltransaction t ON t.id = e.transaction_id
             WHERE {available} AND t.source_type = '{WRITE_OFF_SOURCE}' AND e.balance_after > 0 ORDER BY e.id""",
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


def verify_ledger(*, limit: int = 100, anchor: tuple[int, str] | None = None) -> VerificationReport:
    """Every check above; ``anchor`` is ``(seal id, chain)`` as logged by the sealer and kept outside the database."""
    report = VerificationReport()
    with _no_statement_timeout(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM ledger_account), (SELECT COUNT(*) FROM ledger_journaltransaction),"
            " (SELECT COUNT(*) FROM ledger_journalentry)"
        )
        report.accounts, report.transactions, report.entries = cursor.fetchone()
        for check, sql in {**CHECKS, **_business_checks()}.items():
            cursor.execute(f"{sql} LIMIT {int(limit)}".replace("%%", "%"))
            report.violations += [Violation(check, str(subject), str(detail)) for subject, detail in cursor.fetchall()]
        _verify_integrity(report, limit=limit, anchor=anchor, now=timezone.now())
    return report


@contextlib.contextmanager
def _no_statement_timeout() -> Iterator[None]:
    """The verification reads the whole ledger: the one job allowed past the application's statement timeout
    (DATABASE_STATEMENT_TIMEOUT_MS). It runs in one transaction and the setting lasts for that transaction only: a
    session-wide ``SET`` would, through a transaction pooler, land on one server session while the reads run on
    another, and stay behind for whichever client gets that session next."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', '0', true)")
        yield


def _verify_integrity(report: VerificationReport, *, limit: int, anchor: tuple[int, str] | None, now: datetime) -> None:
    found: dict[str, list[Violation]] = {}

    def add(check: str, subject: str, detail: str) -> None:
        listed = found.setdefault(check, [])
        if len(listed) < limit:
            listed.append(Violation(check, subject, detail))

    macs: dict[str, tuple[str, datetime]] = {}
    for txn in stored_transactions():
        if not txn.mac:
            add("unauthenticated_transaction", txn.id, f"{txn.reference}: no MAC (not posted through the ledger)")
        elif not txn.authentic:
            add("unauthenticated_transaction", txn.id, f"{txn.reference}: its rows no longer match its MAC")
        macs[txn.id] = (txn.mac, txn.posted_at)
    sealed: set[str] = set()
    chain_at: dict[int, str] = {}
    previous = ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, transaction_id, chain FROM ledger_journalseal ORDER BY id")
        for seal_id, transaction_id, chain in cursor.fetchall():
            sealed.add(transaction_id)
            chain_at[seal_id] = chain
            if transaction_id not in macs:
                add("seal_chain", f"seal {seal_id}", f"sealed transaction {transaction_id} is missing")
            elif chain_link(previous, *macs[transaction_id]) != chain:
                add(
                    "seal_chain",
                    f"seal {seal_id}",
                    f"transaction {transaction_id} does not follow from the seal before",
                )
            previous = chain
        cursor.execute("SELECT seal_id, chain FROM ledger_journalcheckpoint ORDER BY id")
        checkpoints = [*cursor.fetchall(), *([anchor] if anchor else [])]
    for seal_id, chain in checkpoints:
        if chain_at.get(int(seal_id)) != chain:
            add("checkpoint_mismatch", f"seal {seal_id}", "the chain there is not the one recorded at sealing")
    for transaction_id, (_, posted_at) in macs.items():
        if transaction_id not in sealed and posted_at < now - 2 * SEAL_WINDOW:
            add("unsealed_transaction", transaction_id, f"posted at {posted_at:%Y-%m-%d %H:%M}, never sealed")
    for violations in found.values():
        report.violations += violations
