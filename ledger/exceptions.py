"""Every way the ledger refuses a write, each with its own code, all rendered by the API's one error handler."""

from __future__ import annotations

from core.errors import LedgerlineError


class LedgerError(LedgerlineError):
    """The ledger refused the operation."""

    code = "ledger_error"
    # Ledger messages name accounts and references for operators; a merchant never reads them.
    client_message = "The operation could not be recorded."


class InvalidPostingError(LedgerError):
    """The posting is malformed."""

    code = "ledger_invalid_posting"


class InvalidAmountError(InvalidPostingError):
    """Amounts are positive integers of minor units with a three-letter lower-case currency."""

    code = "ledger_invalid_amount"
    param = "amount"


class TooFewEntriesError(InvalidPostingError):
    """A journal transaction needs at least two entries."""

    code = "ledger_too_few_entries"


class UnbalancedPostingError(InvalidPostingError):
    """Debits and credits of a transaction must be equal in every currency."""

    code = "ledger_unbalanced"


class CurrencyMismatchError(InvalidPostingError):
    """The currencies do not match."""

    code = "currency_mismatch"
    param = "currency"


class AccountNotFoundError(LedgerError):
    """No such ledger account."""

    code = "ledger_account_missing"
    status_code = 404


class TransactionNotFoundError(LedgerError):
    """No journal transaction was posted under that reference."""

    code = "ledger_transaction_missing"
    status_code = 404


class InsufficientFundsError(LedgerError):
    """The posting would take an account that may never be negative below zero."""

    code = "insufficient_funds"
    client_message = "Your balance does not cover this operation."

    def __init__(self, message: str = "", *, account_id: str = "", balance: int = 0, shortfall: int = 0) -> None:
        super().__init__(message)
        self.account_id = account_id
        self.balance = balance
        self.shortfall = shortfall


class LedgerConflictError(LedgerError):
    """The reference was already posted with different entries."""

    code = "ledger_reference_conflict"
    status_code = 409

    def __init__(self, message: str = "", *, reference: str = "") -> None:
        super().__init__(message)
        self.reference = reference


class ImmutableRecordError(LedgerError):
    """Journal rows are never changed or deleted; post a reversing transaction instead."""

    code = "ledger_immutable"
