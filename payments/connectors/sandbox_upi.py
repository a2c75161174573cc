"""The sandbox's UPI provider: intent (``upi://pay`` link / QR) and collect transactions, status, refunds.

UPI has no authorization hold: a transaction is created, waits for the payer, then succeeds (the money moved,
reported here as ``captured``), fails or expires. A transaction that expired or failed may still succeed later
("deemed" success); the result then says ``late_success``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from payments.connectors.base import (
    AmountMismatchError,
    CaptureRequest,
    NextAction,
    Outcome,
    PaymentRequest,
    ProviderResult,
    ProviderState,
    UnsupportedOperationError,
    UpiCollectRequest,
    UpiIntentRequest,
    VoidRequest,
    amount_check,
)
from payments.connectors.sandbox_common import SandboxConnector, optional_int, parse_time, stripped
from payments.enums import PaymentMethodType

_STATES = {
    "pending": ProviderState.PENDING,
    "succeeded": ProviderState.CAPTURED,
    "failed": ProviderState.FAILED,
    "expired": ProviderState.EXPIRED,
}
_OUTCOMES = {
    ProviderState.PENDING: Outcome.REQUIRES_ACTION,
    ProviderState.CAPTURED: Outcome.SUCCEEDED,
    ProviderState.FAILED: Outcome.FAILED,
    ProviderState.EXPIRED: Outcome.FAILED,
}


def rupees(paise: int) -> str:
    return f"{paise // 100}.{paise % 100:02d}"


class SandboxUpiConnector(SandboxConnector):
    method = PaymentMethodType.UPI
    payments_path = "/transactions"

    def authorize(self, request: PaymentRequest) -> ProviderResult:
        if isinstance(request, UpiIntentRequest):
            # The sandbox's payer is steered by the payment's metadata: a test VPA's behaviour, or approving by
            # itself after a short delay (benchmarks). A real provider has neither.
            body: dict[str, Any] = {
                "flow": "intent",
                "auto_approve": request.metadata.get("sandbox_auto_approve") == "true",
            }
            if request.metadata.get("sandbox_payer_vpa"):
                body["payer_vpa"] = request.metadata["sandbox_payer_vpa"]
        elif isinstance(request, UpiCollectRequest):
            body = {"flow": "collect", "vpa": request.vpa}
        else:
            raise TypeError(f"{self.name} takes UPI payments, not {type(request).__name__}")
        body.update(
            reference=request.reference,
            amount=request.amount,
            currency=request.currency,
            expires_in=request.expires_in,
            description=request.description or None,
        )
        created = self._exchange(
            "POST",
            "/v1/transactions",
            "authorize",
            request.reference,
            json=body,
            idempotency_key=request.idempotency_key,
        )
        if isinstance(created, ProviderResult):
            return created
        result = self._payment_result(created, "authorize")
        amount_check(result, expected=request.amount, currency=request.currency)
        if isinstance(request, UpiIntentRequest):
            self._check_uri(result, request)
        return result

    def _check_uri(self, result: ProviderResult, request: UpiIntentRequest) -> None:
        """The payer's app pays what the URI says, so the URI must say exactly our amount and reference."""
        uri = result.next_action.upi_uri if result.next_action else None
        query = parse_qs(urlsplit(uri or "").query)
        if not uri or not uri.startswith("upi://pay?"):
            raise AmountMismatchError(result, expected=request.amount, reported=None)
        if query.get("am") != [rupees(request.amount)] or query.get("tr") != [request.reference]:
            raise AmountMismatchError(result, expected=request.amount, reported=None)
        if query.get("cu") != [request.currency.upper()]:
            raise AmountMismatchError(result, expected=request.amount, reported=None)

    def capture(self, request: CaptureRequest) -> ProviderResult:
        raise UnsupportedOperationError("UPI payments are captured when the payer approves them")

    def void(self, request: VoidRequest) -> ProviderResult:
        raise UnsupportedOperationError("a UPI payment cannot be voided; it expires or is refunded")

    def _payment_result(self, obj: Mapping[str, Any], operation: str) -> ProviderResult:
        state = _STATES.get(str(obj.get("status")))
        outcome = _OUTCOMES[state] if state else Outcome.UNKNOWN
        next_action = None
        if state is ProviderState.PENDING:
            next_action = NextAction(
                type="upi_intent" if obj.get("flow", "intent") == "intent" else "upi_collect",
                expires_at=parse_time(obj.get("expires_at")),
                upi_uri=obj.get("upi_uri"),
                extra={"sandbox_approve_url": str(obj["approve_url"])} if obj.get("approve_url") else {},
            )
        failed = outcome is Outcome.FAILED
        amount_captured = optional_int(obj.get("amount")) if state is ProviderState.CAPTURED else 0
        return ProviderResult(
            outcome=outcome,
            connector=self.name,
            operation=operation,
            reference=str(obj.get("reference") or ""),
            provider_reference=str(obj.get("id") or "") or None,
            state=state,
            amount=optional_int(obj.get("amount")),
            amount_captured=amount_captured,
            currency=obj.get("currency"),
            fee=optional_int(obj.get("fee")),
            decline_code=(obj.get("failure_code") or str(obj.get("status"))) if failed else None,
            decline_message=obj.get("failure_message") if failed else None,
            error="" if state else f"unexpected transaction status {obj.get('status')!r}",
            next_action=next_action,
            rrn=obj.get("rrn"),
            payer_vpa=obj.get("payer_vpa"),
            late_success=bool(obj.get("late_success")),
            occurred_at=parse_time(obj.get("succeeded_at") or obj.get("created")),
            raw=stripped(obj),
        )
