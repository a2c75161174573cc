"""The sandbox's card acquirers. One class; ``card_a`` and ``card_b`` are two instances (own path, key, secret)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from payments.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    CardRejectedError,
    CardSummary,
    Outcome,
    PaymentRequest,
    ProviderResult,
    ProviderState,
    ProviderUnavailableError,
    RawCard,
    TokenizeResult,
    VoidRequest,
    amount_check,
)
from payments.connectors.http import TransportFailure
from payments.connectors.sandbox_common import SandboxConnector, optional_int, parse_time, stripped
from payments.enums import PaymentMethodType

_STATES = {
    "authorized": ProviderState.AUTHORIZED,
    "captured": ProviderState.CAPTURED,
    "voided": ProviderState.VOIDED,
    "failed": ProviderState.FAILED,
}


def _card(obj: Any) -> CardSummary | None:
    if not isinstance(obj, Mapping):
        return None
    return CardSummary(
        brand=str(obj.get("brand", "")),
        last4=str(obj.get("last4", "")),
        fingerprint=str(obj.get("fingerprint", "")),
        exp_month=int(obj.get("exp_month") or 0),
        exp_year=int(obj.get("exp_year") or 0),
    )


class SandboxCardConnector(SandboxConnector):
    method = PaymentMethodType.CARD
    payments_path = "/charges"

    def tokenize(self, card: RawCard, *, idempotency_key: str) -> TokenizeResult:
        answer = self.http.request(
            "POST",
            "/v1/tokens",
            json={"number": card.number, "exp_month": card.exp_month, "exp_year": card.exp_year, "cvc": card.cvc},
            idempotency_key=idempotency_key,
        )
        if isinstance(answer, TransportFailure):
            raise ProviderUnavailableError(f"{self.name} tokenization: {answer.error}")
        if answer.status == 400:
            error = answer.body.get("error") or {}
            raise CardRejectedError(str(error.get("code")), str(error.get("message")), error.get("param"))
        if answer.status != 200:
            raise ProviderUnavailableError(f"{self.name} tokenization answered {answer.status}")
        card_summary = _card(answer.body.get("card"))
        if card_summary is None or not answer.body.get("id"):
            raise ProviderUnavailableError(f"{self.name} tokenization returned no token")
        return TokenizeResult(token=str(answer.body["id"]), card=card_summary)

    def authorize(self, request: PaymentRequest) -> ProviderResult:
        if not isinstance(request, AuthorizeRequest):
            raise TypeError(f"{self.name} takes card payments, not {type(request).__name__}")
        answer = self.http.request(
            "POST",
            "/v1/charges",
            json={
                "token": request.token,
                "amount": request.amount,
                "currency": request.currency,
                "reference": request.reference,
                "capture": request.capture,
                "description": request.description or None,
            },
            idempotency_key=request.idempotency_key,
        )
        if isinstance(answer, TransportFailure):
            return self._no_answer(answer, "authorize", request.reference)
        if answer.status == 402 and isinstance(answer.body.get("charge"), Mapping):
            declined = self._error_result(answer, "authorize", request.reference)
            charge = self._payment_result(answer.body["charge"], "authorize")
            return replace(
                charge,
                outcome=Outcome.FAILED,
                decline_code=declined.decline_code,
                decline_message=declined.decline_message,
                retryable=declined.retryable,
                http_status=402,
                raw=declined.raw,
            )
        if answer.status != 200:
            return self._error_result(answer, "authorize", request.reference)
        result = self._payment_result(answer.body, "authorize")
        amount_check(result, expected=request.amount, currency=request.currency)
        if request.capture:
            amount_check(result, expected=request.amount, currency=request.currency, reported=result.amount_captured)
        return result

    def capture(self, request: CaptureRequest) -> ProviderResult:
        body = self._exchange(
            "POST",
            f"/v1/charges/{request.provider_reference}/capture",
            "capture",
            request.reference,
            json={"amount": request.amount},
            idempotency_key=request.idempotency_key,
        )
        if isinstance(body, ProviderResult):
            return body
        result = self._payment_result(body, "capture")
        amount_check(result, expected=request.amount, currency=request.currency, reported=result.amount_captured)
        return result

    def void(self, request: VoidRequest) -> ProviderResult:
        body = self._exchange(
            "POST",
            f"/v1/charges/{request.provider_reference}/void",
            "void",
            request.reference,
            json={},
            idempotency_key=request.idempotency_key,
        )
        if isinstance(body, ProviderResult):
            return body
        result = self._payment_result(body, "void")
        amount_check(result, expected=request.amount, currency=request.currency)
        return result

    def _payment_result(self, obj: Mapping[str, Any], operation: str) -> ProviderResult:
        state = _STATES.get(str(obj.get("status")))
        failed = state is ProviderState.FAILED
        return ProviderResult(
            outcome=Outcome.FAILED if failed else (Outcome.SUCCEEDED if state else Outcome.UNKNOWN),
            connector=self.name,
            operation=operation,
            reference=str(obj.get("reference") or ""),
            provider_reference=str(obj.get("id") or "") or None,
            state=state,
            amount=optional_int(obj.get("amount")),
            amount_captured=optional_int(obj.get("amount_captured")),
            currency=obj.get("currency"),
            fee=optional_int(obj.get("fee")),
            decline_code=obj.get("decline_code") or obj.get("failure_code") if failed else None,
            decline_message=obj.get("failure_message") if failed else None,
            error="" if state else f"unexpected charge status {obj.get('status')!r}",
            card=_card(obj.get("card")),
            occurred_at=parse_time(
                obj.get("voided_at") or obj.get("captured_at") or obj.get("authorized_at") or obj.get("created")
            ),
            raw=stripped(obj),
        )

    def dispute_respond(
        self, *, dispute: str, action: str, body: dict[str, Any], idempotency_key: str
    ) -> ProviderResult:
        """Submits evidence to (``action="evidence"``) or accepts (``"accept"``) a dispute at the acquirer."""
        answer = self.http.request(
            "POST", f"/v1/disputes/{dispute}/{action}", json=body, idempotency_key=idempotency_key
        )
        if isinstance(answer, TransportFailure):
            return self._no_answer(answer, f"dispute_{action}", dispute)
        if answer.status != 200:
            return self._error_result(answer, f"dispute_{action}", dispute)
        return ProviderResult(
            outcome=Outcome.SUCCEEDED,
            connector=self.name,
            operation=f"dispute_{action}",
            reference=dispute,
            provider_reference=str(answer.body.get("id") or dispute),
            raw=answer.body,
        )
