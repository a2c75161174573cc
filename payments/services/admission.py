"""Load shedding for work handed to the executor (api-contract.md, Rate limits and overload).

``executor_admission_check`` runs before any work starts (so a 503 is never stored under an idempotency key).
Issue 5 fills it: when the executor's queues or the database pool are saturated it raises
``ServiceUnavailableError(retry_after=…)``, which the API renders as ``503`` + ``Retry-After``, fast, never a hang.
"""

from __future__ import annotations


def executor_admission_check() -> None:
    """Raises ``payments.exceptions.ServiceUnavailableError`` when confirming more payments would overload."""
