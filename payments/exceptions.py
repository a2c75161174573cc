"""The payments app's domain errors; the API's exception handler renders each as the contract's envelope."""

from __future__ import annotations

from core.errors import LedgerlineError


class InvalidRequestError(LedgerlineError):
    """The request's parameters are not acceptable."""

    code = "parameter_invalid"


class RefundLimitExceededError(InvalidRequestError):
    """The refund would take the payment's refunds by this kind of requester above their limit."""

    code = "amount_above_limit"
    param = "amount"

    def __init__(self, *, limit: int, refunded: int, currency: str) -> None:
        self.limit, self.refunded, self.currency = limit, refunded, currency
        super().__init__(
            f"Refunds of one payment above {limit} in total ({currency}, minor units) need someone with a higher "
            f"limit; {refunded} of this payment were already refunded that way."
        )


class ResourceMissingError(LedgerlineError):
    """No such object (or it belongs to another merchant or mode, which the caller cannot tell apart)."""

    status_code = 404
    code = "resource_missing"
    param = "id"


class PaymentStateError(LedgerlineError):
    """The payment's status does not allow this operation."""

    code = "payment_unexpected_state"


class IdempotencyKeyReusedError(LedgerlineError):
    """This Idempotency-Key was already used with different parameters or on another endpoint."""

    type = "idempotency_error"
    code = "idempotency_key_reused"


class IdempotencyKeyInUseError(LedgerlineError):
    """A request with this Idempotency-Key is still executing; retry once it has finished."""

    status_code = 409
    type = "idempotency_error"
    code = "idempotency_key_in_use"
    should_retry = True


class ServiceUnavailableError(LedgerlineError):
    """The platform is shedding load; retry after the number of seconds in Retry-After."""

    status_code = 503
    type = "api_error"
    code = "service_unavailable"
    should_retry = True
    retry_after = 1


class CheckoutSessionStateError(LedgerlineError):
    """The checkout session's status does not allow this operation."""

    code = "checkout_session_unexpected_state"
    param = "status"
