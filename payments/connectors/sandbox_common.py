"""What the sandbox's providers share: error shape, webhook signatures, settlement CSV (see sandbox/README.md).

A real provider would have its own module with its own versions of these; the sandbox's three providers follow
one convention, so their modules (sandbox_card, sandbox_upi) build on this one.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import IO, Any, Literal, cast, get_args
from urllib.parse import quote

from core.currencies import is_currency
from payments.connectors.base import (
    Connector,
    DisputeState,
    Outcome,
    ProviderDispute,
    ProviderMismatchError,
    ProviderResult,
    ProviderState,
    ProviderWebhookEvent,
    RefundRequest,
    SettlementFormatError,
    SettlementLine,
    SettlementLineType,
    WebhookVerificationError,
    amount_check,
)
from payments.connectors.circuit import CircuitBreaker
from payments.connectors.http import HttpAnswer, ProviderHttp, ProviderTls, TransportFailure
from payments.connectors.settlement import LineField, SettlementColumn, SettlementFormat

SIGNATURE_HEADER = "sandbox-signature"
SIGNATURE_TOLERANCE_SECONDS = 300
# Never kept in a result's raw summary, wherever they appear.
_SECRET_KEYS = frozenset({"number", "cvc", "token", "api_key", "secret", "_outcome"})
# These conflicts mean "something under this reference/key already happened": only a status lookup can tell what.
_AMBIGUOUS_CONFLICTS = frozenset({"reference_already_used", "idempotency_key_in_use", "idempotency_key_reused"})

SETTLEMENT_COLUMNS: tuple[str, ...] = get_args(LineField)  # the file's header: every line field, in order
# The same file, described: what reconciliation loads in SQL (``parse_settlement_csv`` is the embedded shape's reader).
# The sandbox produces a day's file whole, so a bad line means a broken file: rejected, never half-imported.
SETTLEMENT_FORMAT = SettlementFormat(
    columns=(
        SettlementColumn("batch_id", "batch_id"),
        SettlementColumn("settlement_date", "settlement_date"),
        SettlementColumn("type", "type"),
        SettlementColumn("provider_reference", "provider_reference"),
        SettlementColumn("our_reference", "our_reference"),
        SettlementColumn("rrn", "rrn"),
        SettlementColumn("currency", "currency"),
        SettlementColumn("gross", "gross"),
        SettlementColumn("fee", "fee"),
        SettlementColumn("net", "net"),
        SettlementColumn("transaction_date", "transaction_date"),
        SettlementColumn("original_provider_reference", "original_provider_reference"),
    ),
    invalid_lines="reject",
)
_DISPUTE_STATES = {"won": DisputeState.WON, "lost": DisputeState.LOST}
_SIGN_OF_TYPE: dict[str, int] = {"charge": 1, "refund": -1, "chargeback": -1, "chargeback_reversal": 1}
_INTEGER = re.compile(r"-?\d{1,18}")
_CURRENCY = re.compile(r"[a-z]{3}")


def stripped(value: Any) -> Any:
    """A copy of a provider object without anything secret, for logs, the admin and results."""
    if isinstance(value, Mapping):
        return {k: stripped(v) for k, v in value.items() if k not in _SECRET_KEYS}
    if isinstance(value, list):
        return [stripped(v) for v in value]
    return value


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class SandboxConnector(Connector):
    """HTTP, error mapping, webhook verification and settlement parsing for one sandbox provider account."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_key: str,
        webhook_secret: str,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        breaker: CircuitBreaker | None = None,
        http: ProviderHttp | None = None,
        tls: ProviderTls | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._webhook_secret = webhook_secret
        self.http = http or ProviderHttp(
            name=name,
            base_url=self.base_url,
            api_key=api_key,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            breaker=breaker,
            tls=tls,
        )

    # --- results from answers ---------------------------------------------------------------------------------

    def _exchange(
        self,
        method: str,
        path: str,
        operation: str,
        reference: str,
        *,
        json: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any] | ProviderResult:
        """The provider's object on a 200; otherwise the result that says what the failure means."""
        answer = self.http.request(method, path, json=json, idempotency_key=idempotency_key)
        if isinstance(answer, TransportFailure):
            return self._no_answer(answer, operation, reference)
        if answer.status != 200:
            return self._error_result(answer, operation, reference)
        return answer.body

    def _no_answer(self, failure: TransportFailure, operation: str, reference: str) -> ProviderResult:
        return ProviderResult(
            outcome=failure.outcome,
            connector=self.name,
            operation=operation,
            reference=reference,
            error=failure.error,
            http_status=failure.http_status,
        )

    def _error_result(self, answer: HttpAnswer, operation: str, reference: str) -> ProviderResult:
        """A 4xx answer: a business refusal (failed), unless it is ambiguous about what already happened."""
        error = answer.body.get("error") or {}
        code = str(error.get("code") or f"http_{answer.status}")
        message = str(error.get("message") or "")
        if answer.status == 401:
            outcome, failure = Outcome.NOT_SENT, f"authentication: {message}"
        elif answer.status == 429:
            outcome, failure = Outcome.NOT_SENT, "rate_limited"
        elif code in _AMBIGUOUS_CONFLICTS:
            outcome, failure = Outcome.UNKNOWN, code
        elif answer.status == 404 and code == "reference_not_found":
            outcome, failure = Outcome.NOT_FOUND, code
        else:
            outcome, failure = Outcome.FAILED, ""
        return ProviderResult(
            outcome=outcome,
            connector=self.name,
            operation=operation,
            reference=reference,
            decline_code=None if outcome is not Outcome.FAILED else str(error.get("decline_code") or code),
            decline_message=message or None,
            retryable=bool(error.get("retryable", False)),
            error=failure or code,
            http_status=answer.status,
            raw=stripped(answer.body),
        )

    # --- operations every sandbox provider has ---------------------------------------------------------------

    payments_path = ""  # "/charges" or "/transactions"

    def refund(self, request: RefundRequest) -> ProviderResult:
        body = self._exchange(
            "POST",
            f"/v1{self.payments_path}/{request.provider_reference}/refunds",
            "refund",
            request.reference,
            json={"amount": request.amount, "reference": request.reference, "reason": request.reason or None},
            idempotency_key=request.idempotency_key,
        )
        if isinstance(body, ProviderResult):
            return body
        result = self._refund_result(body, "refund")
        amount_check(result, expected=request.amount, currency=request.currency)
        return result

    def status(
        self,
        reference: str,
        *,
        kind: Literal["payment", "refund"] = "payment",
        expected_amount: int | None = None,
        expected_currency: str | None = None,
    ) -> ProviderResult:
        collection = self.payments_path if kind == "payment" else "/refunds"
        body = self._exchange("GET", f"/v1{collection}/by_reference/{quote(reference, safe='')}", "status", reference)
        if isinstance(body, ProviderResult):
            return body
        result = self._refund_result(body, "status") if kind == "refund" else self._payment_result(body, "status")
        if result.reference != reference:
            raise ProviderMismatchError(result, f"asked about {reference}, provider answered about {result.reference}")
        if expected_amount is not None:
            amount_check(result, expected=expected_amount, currency=expected_currency or str(result.currency))
        return result

    # --- webhooks --------------------------------------------------------------------------------------------

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], *, now: float | None = None
    ) -> ProviderWebhookEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        header = lowered.get(SIGNATURE_HEADER, "")
        parts: dict[str, list[str]] = {}
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            parts.setdefault(key, []).append(value)
        try:
            timestamp = int(parts["t"][0])
        except (KeyError, ValueError) as exc:
            raise WebhookVerificationError("missing or malformed signature header") from exc
        expected = hmac.new(self._webhook_secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
            raise WebhookVerificationError("signature does not match")
        if abs((time.time() if now is None else now) - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
            raise WebhookVerificationError("signature timestamp outside the tolerance")
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise WebhookVerificationError("signed body is not JSON") from exc
        return self.parse_event(event)

    def parse_event(self, event: Any) -> ProviderWebhookEvent:
        try:
            event_id, event_type = str(event["id"]), str(event["type"])
            obj = event["data"]["object"]
        except (KeyError, TypeError) as exc:
            raise WebhookVerificationError("signed body is not an event") from exc
        if not isinstance(obj, dict):
            raise WebhookVerificationError("event without an object")
        kind: Literal["payment", "refund", "dispute", "other"]
        result: ProviderResult | None = None
        dispute: ProviderDispute | None = None
        if obj.get("object") == "refund":
            kind, result = "refund", self._refund_result(obj, "webhook")
        elif obj.get("object") == "dispute":
            kind, dispute = "dispute", self._dispute(obj)
        elif obj.get("object") in ("charge", "upi_transaction"):
            kind, result = "payment", self._payment_result(obj, "webhook")
        else:
            kind = "other"
        return ProviderWebhookEvent(
            id=event_id,
            type=event_type,
            connector=self.name,
            created=parse_time(event.get("created")),
            object_kind=kind,
            result=result,
            dispute=dispute,
            raw=stripped(event),
        )

    def _dispute(self, obj: Mapping[str, Any]) -> ProviderDispute:
        return ProviderDispute(
            connector=self.name,
            provider_reference=str(obj.get("id") or ""),
            reference=str(obj.get("reference") or ""),
            amount=optional_int(obj.get("amount")),
            currency=obj.get("currency"),
            fee=optional_int(obj.get("fee")) or 0,
            reason=str(obj.get("reason") or "")[:64],
            state=_DISPUTE_STATES.get(str(obj.get("status")), DisputeState.OPEN),
            evidence_due_by=parse_time(obj.get("evidence_due_by")),
            created=parse_time(obj.get("created")),
        )

    def _payment_result(self, obj: Mapping[str, Any], operation: str) -> ProviderResult:
        raise NotImplementedError

    def _refund_result(self, obj: Mapping[str, Any], operation: str) -> ProviderResult:
        state = {"pending": ProviderState.PENDING, "succeeded": ProviderState.SUCCEEDED}.get(
            str(obj.get("status")), ProviderState.FAILED
        )
        outcome = {
            ProviderState.PENDING: Outcome.PENDING,
            ProviderState.SUCCEEDED: Outcome.SUCCEEDED,
        }.get(state, Outcome.FAILED)
        return ProviderResult(
            outcome=outcome,
            connector=self.name,
            operation=operation,
            reference=str(obj.get("reference") or ""),
            provider_reference=str(obj.get("id") or "") or None,
            state=state,
            amount=optional_int(obj.get("amount")),
            currency=obj.get("currency"),
            decline_code=obj.get("failure_code") if outcome is Outcome.FAILED else None,
            decline_message=obj.get("failure_message") if outcome is Outcome.FAILED else None,
            rrn=obj.get("rrn"),
            occurred_at=parse_time(obj.get("succeeded_at") or obj.get("created")),
            raw=stripped(obj),
        )

    # --- settlement ------------------------------------------------------------------------------------------

    def parse_settlement(self, file: IO[bytes]) -> Iterator[SettlementLine]:
        return parse_settlement_csv(file)

    def settlement_format(self) -> SettlementFormat:
        return SETTLEMENT_FORMAT


def _decoded(file: IO[bytes]) -> Iterator[str]:
    for number, raw in enumerate(file, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise SettlementFormatError(number, f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
        if "\x00" in text:  # PostgreSQL refuses NUL in text: say where it is instead of failing at the COPY
            raise SettlementFormatError(number, f"a NUL byte at column {text.index(chr(0)) + 1}")
        yield text


def parse_settlement_csv(file: IO[bytes]) -> Iterator[SettlementLine]:
    """Read the sandbox's settlement CSV line by line (constant memory), validating every field of every line."""
    reader = csv.reader(_decoded(file), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise SettlementFormatError(reader.line_num, f"malformed CSV: {exc}") from exc
    if header is None:
        raise SettlementFormatError(1, "empty file: the header line is missing")
    if tuple(header) != SETTLEMENT_COLUMNS:
        raise SettlementFormatError(1, f"unexpected header {header!r}; expected {list(SETTLEMENT_COLUMNS)!r}")
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            raise SettlementFormatError(reader.line_num, f"malformed CSV: {exc}") from exc
        if row is None:
            return
        yield _settlement_line(reader.line_num, row)


def _settlement_line(number: int, row: list[str]) -> SettlementLine:
    if len(row) != len(SETTLEMENT_COLUMNS):
        raise SettlementFormatError(
            number, f"{len(row)} fields, expected {len(SETTLEMENT_COLUMNS)} (truncated or malformed line)"
        )
    values = dict(zip(SETTLEMENT_COLUMNS, row, strict=True))

    def integer(column: str) -> int:
        if not _INTEGER.fullmatch(values[column]):
            raise SettlementFormatError(number, f"{column} {values[column]!r} is not an integer amount")
        return int(values[column])

    line_type = values["type"]
    if line_type not in ("charge", "refund", "chargeback", "chargeback_reversal", "fee_adjustment"):
        raise SettlementFormatError(number, f"unknown line type {line_type!r}")
    gross, fee, net = integer("gross"), integer("fee"), integer("net")
    if net != gross - fee:
        raise SettlementFormatError(number, f"net {net} is not gross {gross} minus fee {fee}")
    sign = _SIGN_OF_TYPE.get(line_type, 0)
    if (sign == 0 and gross != 0) or gross * sign < 0 or (sign != 0 and gross == 0):
        raise SettlementFormatError(number, f"gross {gross} has the wrong sign for a {line_type} line")
    if not _CURRENCY.fullmatch(values["currency"]) or not is_currency(values["currency"]):
        raise SettlementFormatError(number, f"currency {values['currency']!r} is not lower-case ISO 4217")
    if not values["provider_reference"] or not values["batch_id"]:
        raise SettlementFormatError(number, "provider_reference and batch_id are required")
    try:
        settlement_date = date.fromisoformat(values["settlement_date"])
    except ValueError as exc:
        raise SettlementFormatError(number, f"settlement_date {values['settlement_date']!r} is not a date") from exc
    transaction_date = parse_time_strict(number, values["transaction_date"])
    return SettlementLine(
        line_number=number,
        batch_id=values["batch_id"],
        settlement_date=settlement_date,
        type=cast(SettlementLineType, line_type),
        provider_reference=values["provider_reference"],
        our_reference=values["our_reference"],
        rrn=values["rrn"],
        currency=values["currency"],
        gross=gross,
        fee=fee,
        net=net,
        transaction_date=transaction_date,
        original_provider_reference=values["original_provider_reference"],
    )


def parse_time_strict(number: int, value: str) -> datetime:
    try:
        parsed = parse_time(value)
    except ValueError as exc:
        raise SettlementFormatError(number, f"transaction_date {value!r} is not an ISO 8601 timestamp") from exc
    if parsed is None or parsed.tzinfo is None:
        raise SettlementFormatError(number, f"transaction_date {value!r} is not an aware UTC timestamp")
    return parsed
