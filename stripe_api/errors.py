"""Stripe's error envelope and headers for every ``/stripe/v1`` response that is an error.

``{"error": {"type", "code", "message", "param", …}}`` with Stripe's types (``card_error`` with ``decline_code``,
``invalid_request_error`` with ``param``, ``authentication_error``, ``idempotency_error``, ``rate_limit_error``,
``api_error``) and ``Stripe-Should-Retry``, which Stripe's SDKs read to decide whether to retry. Built on the
platform's own handler, so each error is classified once and only renamed here.
"""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response

from core.api.errors import exception_handler as ledgerline_exception_handler
from core.errors import LedgerlineError

# Our codes where Stripe's SDK users expect Stripe's (their code branches on them).
_CODES = {
    "payment_unexpected_state": "payment_intent_unexpected_state",
    "amount_exceeds_refundable": "amount_too_large",
    "invalid_api_key": "api_key_invalid",
    "rate_limited": "rate_limit",
}
# Stripe puts the "why" of a card decline in ``code`` for these and ``card_declined`` + decline_code otherwise.
CARD_ERROR_CODES = frozenset({"expired_card", "incorrect_cvc", "incorrect_number", "processing_error", "invalid_cvc"})


class StripeCardError(LedgerlineError):
    """The card was declined: a 402 ``card_error``, carrying the PaymentIntent as Stripe's does."""

    status_code = 402
    type = "card_error"

    def __init__(self, message: str, *, code: str, decline_code: str, payment_intent: dict[str, Any]) -> None:
        super().__init__(message, code=code)
        self.decline_code = decline_code
        self.payment_intent = payment_intent


def card_error_for(payment_intent: dict[str, Any]) -> StripeCardError:
    error = payment_intent.get("last_payment_error") or {}
    return StripeCardError(
        str(error.get("message") or "Your card was declined."),
        code=str(error.get("code") or "card_declined"),
        decline_code=str(error.get("decline_code") or "generic_decline"),
        payment_intent=payment_intent,
    )


def stripe_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = ledgerline_exception_handler(exc, context)
    if response is None:
        return None
    return stripe_error_response(response, exc)


def stripe_error_response(response: Response, exc: Exception | None = None) -> Response:
    """Renames the platform's envelope into Stripe's, and its retry header into Stripe's."""
    data = response.data if isinstance(response.data, dict) else {}
    error = dict(data.get("error") or {})
    if "code" in error:
        error["code"] = _CODES.get(str(error["code"]), error["code"])
    if error.get("type") == "upi_error":
        error["type"] = "card_error"  # Stripe's SDKs know one "the payment method was declined" type
    if isinstance(exc, StripeCardError):
        error["decline_code"] = exc.decline_code
        error["payment_intent"] = exc.payment_intent
        pm = exc.payment_intent.get("payment_method")
        error["payment_method"] = {"id": pm, "object": "payment_method"} if isinstance(pm, str) else pm
    if error.get("param") is None:
        error.pop("param", None)  # Stripe omits it rather than sending null
    response.data = {"error": error}
    retry = response.headers.get("Should-Retry")
    if retry is not None:
        response.headers["Stripe-Should-Retry"] = retry
    else:
        transient = response.status_code >= 500 or response.status_code in (409, 429)
        response.headers["Stripe-Should-Retry"] = "true" if transient else "false"
    return response
