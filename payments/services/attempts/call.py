"""Step 2: the provider call, outside any transaction; and the task body that runs claim, call and apply."""

from __future__ import annotations

import dataclasses
import time

import structlog

from payments.connectors import registry
from payments.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    CardRejectedError,
    Outcome,
    ProviderMismatchError,
    ProviderResult,
    ProviderUnavailableError,
    RefundRequest,
    UnsupportedOperationError,
    VoidRequest,
)
from payments.enums import AttemptOperation
from payments.metrics import provider_call_observe
from payments.models import PaymentMethod
from payments.services.attempts.apply import attempt_result_apply
from payments.services.attempts.claim import Claim, attempt_claim
from payments.services.card_tokens import card_token_get
from payments.services.vault import vault_cvc_destroy
from payments.vault import VaultError

logger = structlog.get_logger(__name__)


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
    if isinstance(request, AuthorizeRequest) and not request.token:
        tokenized = _tokenize(claim, request)
        if isinstance(tokenized, ProviderResult):
            return tokenized
        request = tokenized
    try:
        if isinstance(request, CaptureRequest):
            return connector.capture(request)
        if isinstance(request, VoidRequest):
            return connector.void(request)
        if isinstance(request, RefundRequest):
            return connector.refund(request)
        result = connector.authorize(request)
    except ProviderMismatchError as exc:
        return exc
    if claim.payment_method_id and result.outcome is not Outcome.NOT_SENT:
        _cvc_destroy(claim.payment_method_id)
    return result


def _tokenize(claim: Claim, request: AuthorizeRequest) -> AuthorizeRequest | ProviderResult:
    """The card's token at this acquirer (made now if it has none; the only place a number leaves the vault), or
    the attempt's outcome when it cannot be had: the acquirer refusing the card is a decline, an acquirer that
    cannot be reached never saw the payment (so the next one may be tried)."""
    try:
        token = card_token_get(payment_method_id=claim.payment_method_id, connector=claim.connector)
    except CardRejectedError as exc:
        return dataclasses.replace(
            _local(claim, Outcome.FAILED, "card_rejected"), decline_code=exc.code, decline_message=str(exc)
        )
    except (ProviderUnavailableError, UnsupportedOperationError) as exc:
        return dataclasses.replace(_local(claim, Outcome.NOT_SENT, "tokenization_failed"), error=str(exc)[:200])
    except (VaultError, LookupError) as exc:
        logger.error("card_unreadable", payment_method_id=claim.payment_method_id, error=type(exc).__name__)
        return dataclasses.replace(
            _local(claim, Outcome.FAILED, "card_unreadable"),
            decline_code="processing_error",
            decline_message="The card could not be read from the vault.",
        )
    return dataclasses.replace(request, token=token)


def _cvc_destroy(payment_method_id: str) -> None:
    """PCI DSS: no sensitive authentication data after authorization. The attempt may have reached the issuer, so
    whatever it answered, the CVC is gone (a later tokenization is a card-on-file one, without it)."""
    entry_id = PaymentMethod.objects.filter(pk=payment_method_id).values_list("vault_entry_id", flat=True).first()
    if entry_id is not None and vault_cvc_destroy(entry_id=entry_id):
        logger.info("card_cvc_destroyed", payment_method_id=payment_method_id)


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
