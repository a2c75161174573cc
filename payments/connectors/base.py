"""The provider boundary: typed requests and results between the executor and each provider module.

The executor speaks only these dataclasses; each provider module (one per PSP) turns them into HTTP calls and the
provider's answers back into a :class:`ProviderResult`. Money is integer minor units throughout, and every amount a
provider reports is checked against the amount we asked for before a result leaves the connector.

The outcome of a call is what the executor acts on, and the distinctions matter for money:

* ``unknown`` (timeout, dropped connection, 5xx): the provider may or may not have acted. Never treated as failed;
  resolved only by :meth:`Connector.status` with the same reference, later.
* ``not_sent`` (connection refused, circuit open): the provider provably never acted, so the executor may send the
  same payment to the next connector.
* ``not_found`` (status lookups only): the provider says it never saw our reference, the one proof a charge did
  not happen.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, TYPE_CHECKING, Any, Literal

from payments.enums import PaymentMethodType

if TYPE_CHECKING:
    from payments.connectors.settlement import SettlementFormat


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"  # the operation happened (authorized / captured / voided / refunded)
    FAILED = "failed"  # a business answer: declined, refused; nothing was applied
    PENDING = "pending"  # accepted, final state later (a refund being processed)
    REQUIRES_ACTION = "requires_action"  # waiting for the payer (UPI intent or collect)
    UNKNOWN = "unknown"  # the call may or may not have been applied; ask `status` later
    NOT_SENT = "not_sent"  # provably never applied by the provider: safe to fail over
    NOT_FOUND = "not_found"  # status lookup: the provider never saw this reference


class ProviderState(enum.StrEnum):
    """The provider's state of the object, normalised across providers (UPI success is ``captured``)."""

    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    VOIDED = "voided"
    FAILED = "failed"
    EXPIRED = "expired"
    SUCCEEDED = "succeeded"  # refunds


# --- requests ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class RawCard:
    """Raw card data on its way to the provider's tokenizer; never stored, never logged."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    def __repr__(self) -> str:
        return f"RawCard(last4={self.number[-4:]!r}, exp={self.exp_month:02d}/{self.exp_year})"


@dataclass(frozen=True)
class CardSummary:
    """What the platform keeps of a card: never the number."""

    brand: str
    last4: str
    fingerprint: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class TokenizeResult:
    token: str
    card: CardSummary


@dataclass(frozen=True)
class AuthorizeRequest:
    """Authorize a card payment (and capture it at once when ``capture``)."""

    reference: str  # our attempt id: how we ask the provider "did this happen?" later
    idempotency_key: str
    amount: int
    currency: str
    token: str
    capture: bool = True
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)  # the merchant's, as the provider may keep it


@dataclass(frozen=True)
class UpiIntentRequest:
    """Create a UPI intent: the payer scans a QR / opens a ``upi://pay`` link and approves in their app."""

    reference: str
    idempotency_key: str
    amount: int
    currency: str = "inr"
    expires_in: int = 600
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UpiCollectRequest:
    """Send a collect request to the payer's VPA; they approve it in their app."""

    reference: str
    idempotency_key: str
    amount: int
    vpa: str
    currency: str = "inr"
    expires_in: int = 600
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


PaymentRequest = AuthorizeRequest | UpiIntentRequest | UpiCollectRequest


@dataclass(frozen=True)
class CaptureRequest:
    reference: str
    idempotency_key: str
    provider_reference: str
    amount: int
    currency: str


@dataclass(frozen=True)
class VoidRequest:
    reference: str
    idempotency_key: str
    provider_reference: str
    amount: int  # what was authorized, checked against the provider's answer
    currency: str


@dataclass(frozen=True)
class RefundRequest:
    reference: str  # our refund id
    idempotency_key: str
    provider_reference: str  # the charge / UPI transaction being refunded
    amount: int
    currency: str
    reason: str = ""


ProviderRequest = PaymentRequest | CaptureRequest | VoidRequest | RefundRequest


# --- results ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextAction:
    """What the payer has to do before a UPI payment settles."""

    type: Literal["upi_intent", "upi_collect"]
    expires_at: datetime | None
    upi_uri: str | None = None  # intent only
    # Fields a provider adds to the merchant's next_action as they are (the sandbox's "approve" page, say).
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderResult:
    outcome: Outcome
    connector: str
    operation: str  # authorize | capture | void | refund | status
    reference: str
    provider_reference: str | None = None
    state: ProviderState | None = None
    amount: int | None = None  # the amount of the operation, as the provider reports it
    amount_captured: int | None = None
    currency: str | None = None
    fee: int | None = None  # the provider's own cost, when it tells us
    decline_code: str | None = None
    decline_message: str | None = None
    retryable: bool = False  # a decline the provider says may pass on a new attempt (processing_error)
    error: str = ""  # for unknown / not_sent: why (timeout, disconnect, 503, circuit open …)
    http_status: int | None = None
    card: CardSummary | None = None
    next_action: NextAction | None = None
    rrn: str | None = None  # UPI bank reference
    payer_vpa: str | None = None
    late_success: bool = False  # UPI: succeeded after it had expired or failed
    occurred_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)  # the provider's object, secrets stripped

    @property
    def reached_provider(self) -> bool:
        return self.outcome is not Outcome.NOT_SENT


class DisputeState(enum.StrEnum):
    """A chargeback's state at the provider, normalised across providers."""

    OPEN = "open"  # waiting for the merchant's evidence, or under review
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class ProviderDispute:
    """A chargeback as the provider reports it, under the reference of the authorization it disputes."""

    connector: str
    provider_reference: str  # the provider's dispute id
    reference: str  # our authorization attempt's id
    amount: int | None
    currency: str | None
    fee: int  # what the provider charges for the chargeback
    reason: str
    state: DisputeState
    evidence_due_by: datetime | None
    created: datetime | None


@dataclass(frozen=True)
class ProviderWebhookEvent:
    id: str  # the provider's event id: the dedupe key
    type: str
    connector: str
    created: datetime | None
    object_kind: Literal["payment", "refund", "dispute", "other"]
    result: ProviderResult | None  # the object in the event, read exactly as a status lookup reads it
    dispute: ProviderDispute | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


SettlementLineType = Literal["charge", "refund", "chargeback", "chargeback_reversal", "fee_adjustment"]


@dataclass(frozen=True)
class SettlementLine:
    line_number: int
    batch_id: str
    settlement_date: date
    type: SettlementLineType
    provider_reference: str
    our_reference: str
    rrn: str
    currency: str
    gross: int
    fee: int
    net: int
    transaction_date: datetime
    original_provider_reference: str


# --- errors -----------------------------------------------------------------------------------------------------


class ConnectorError(Exception):
    """Base of every error a connector raises (outcomes of calls are results, not errors)."""


class UnsupportedOperationError(ConnectorError):
    """The provider has no such operation (UPI has no separate capture or void)."""


class ProviderMismatchError(ConnectorError):
    """The provider's answer is not about what we asked (another reference, amount or currency): never accepted."""

    def __init__(self, result: ProviderResult, message: str) -> None:
        super().__init__(f"{result.connector} {result.operation} {result.reference}: {message}")
        self.result = result


class AmountMismatchError(ProviderMismatchError):
    def __init__(self, result: ProviderResult, *, expected: int, reported: int | None, currency: str = "") -> None:
        super().__init__(
            result, f"asked for {expected} {currency}".rstrip() + f", provider says {reported} {result.currency or ''}"
        )
        self.expected = expected
        self.reported = reported


class ProviderUnavailableError(ConnectorError):
    """A call that moves no money (tokenization) could not be made; the caller may try again or elsewhere."""


class CardRejectedError(ConnectorError):
    """The provider refused the card data itself (bad number, expiry or cvc): the payer must correct it."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


class WebhookVerificationError(ConnectorError):
    """Bad or missing signature, stale timestamp, or a body that is not an event: never applied."""


class SettlementFormatError(ConnectorError):
    def __init__(self, line_number: int, message: str) -> None:
        super().__init__(f"line {line_number}: {message}")
        self.line_number = line_number
        self.message = message


def amount_check(result: ProviderResult, *, expected: int, currency: str, reported: int | None = None) -> None:
    """Raise :class:`AmountMismatchError` unless the provider's amount and currency are exactly what we asked."""
    value = result.amount if reported is None else reported
    if value != expected or (result.currency is not None and result.currency != currency):
        raise AmountMismatchError(result, expected=expected, reported=value, currency=currency)


# --- the interface ----------------------------------------------------------------------------------------------


class Connector(abc.ABC):
    """One payment provider account. Instances are cheap, hold no per-payment state and are safe to share."""

    name: str
    method: PaymentMethodType

    @abc.abstractmethod
    def authorize(self, request: PaymentRequest) -> ProviderResult:
        """Start a payment. Same ``idempotency_key`` on every retry of one attempt."""

    @abc.abstractmethod
    def capture(self, request: CaptureRequest) -> ProviderResult: ...

    @abc.abstractmethod
    def void(self, request: VoidRequest) -> ProviderResult: ...

    @abc.abstractmethod
    def refund(self, request: RefundRequest) -> ProviderResult: ...

    @abc.abstractmethod
    def status(
        self,
        reference: str,
        *,
        kind: Literal["payment", "refund"] = "payment",
        expected_amount: int | None = None,
        expected_currency: str | None = None,
    ) -> ProviderResult:
        """What the provider knows about OUR reference; ``not_found`` is the proof that nothing happened.

        With ``expected_amount``, a found object whose amount differs raises :class:`AmountMismatchError`.
        """

    @abc.abstractmethod
    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], *, now: float | None = None
    ) -> ProviderWebhookEvent:
        """Check the signature and parse the event; raises :class:`WebhookVerificationError`."""

    @abc.abstractmethod
    def parse_event(self, event: Any) -> ProviderWebhookEvent:
        """Read an already verified event (the parsed JSON body) into the typed event."""

    @abc.abstractmethod
    def parse_settlement(self, file: IO[bytes]) -> Iterator[SettlementLine]:
        """Stream a settlement file in constant memory; raises :class:`SettlementFormatError` with a line number."""

    def settlement_format(self) -> SettlementFormat | None:
        """The layout of this provider's settlement file, which reconciliation loads in SQL on PostgreSQL (copying the
        raw lines, validating and converting them there); None: only :meth:`parse_settlement` reads it."""
        return None

    def tokenize(self, card: RawCard, *, idempotency_key: str) -> TokenizeResult:
        raise UnsupportedOperationError(f"{self.name} does not tokenize cards")

    def dispute_respond(
        self, *, dispute: str, action: str, body: dict[str, Any], idempotency_key: str
    ) -> ProviderResult:
        """Evidence for (``action="evidence"``) or acceptance of (``"accept"``) a dispute, by the provider's id."""
        raise UnsupportedOperationError(f"{self.name} has no disputes")
