"""Step 2: the provider call, outside any transaction; and the task body that runs claim, call and apply."""

from __future__ import annotations

import time

from payments.connectors import registry
from payments.connectors.base import (
    CaptureRequest,
    Outcome,
    ProviderMismatchError,
    ProviderResult,
    RefundRequest,
    VoidRequest,
)
from payments.enums import AttemptOperation
from payments.metrics import provider_call_observe
from payments.services.attempts.apply import attempt_result_apply
from payments.services.attempts.claim import Claim, attempt_claim


def attempt_call(claim: Claim) -> ProviderResult | ProviderMismatchError:
    started = time.perf_counter()
    result = _attempt_call(claim)
    outcome = "mismatch" if isinstance(result, ProviderMismatchError) else str(result.outcome)
    provider_call_observe(
        connector=claim.connector,
        operation=str(claim.operation),
        outcome=outcome,
        seconds=time.perf_counter() - started,
    )
    return result


def _attempt_call(claim: Claim) -> ProviderResult | ProviderMismatchError:
    """What the provider answered, as a typed result; an answer about something else than we asked is returned as
    the error, for the apply step to flag."""
    if claim.request is None:
        if claim.operation == AttemptOperation.AUTHORIZE:
            # No token for this acquirer: nothing was sent, so moving on to the next one is safe.
            return _local(claim, Outcome.NOT_SENT, "no_provider_request")
        # A capture, void or refund with no authorization to act on: nothing at the provider to send it to.
        return _local(claim, Outcome.FAILED, "no_authorization")
    connector = registry.connector_get(claim.connector)
    request = claim.request
    try:
        if isinstance(request, CaptureRequest):
            return connector.capture(request)
        if isinstance(request, VoidRequest):
            return connector.void(request)
        if isinstance(request, RefundRequest):
            return connector.refund(request)
        return connector.authorize(request)
    except ProviderMismatchError as exc:
        return exc


def _local(claim: Claim, outcome: Outcome, error: str) -> ProviderResult:
    return ProviderResult(
        outcome=outcome,
        connector=claim.connector,
        operation=claim.operation,
        reference=claim.attempt_id,
        decline_code=error if outcome is Outcome.FAILED else None,
        error=error,
    )


def attempt_execute(*, attempt_id: str) -> str:
    """The ``payments.execute_attempt`` task's body: claim, call, apply. Returns what happened, for logs."""
    claim = attempt_claim(attempt_id=attempt_id)
    if claim is None:
        return "skipped"
    return attempt_result_apply(attempt_id=attempt_id, result=attempt_call(claim), source="call")
