"""Card acquirers ``card_a``, ``card_b`` and ``card_c``: tokenization, authorize (+capture), capture, void, lookups.

The acquirers share this code and differ only by path prefix, API key, webhook secret, faults and data, so the
platform can fail over from one to the other. Refunds live in refunds.py, disputes in disputes.py.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from . import settlement, validation
from .clock import iso, parse_iso
from .core import Sandbox, public
from .endpoint import Call, Reply
from .errors import ApiError, conflict, invalid, not_found
from .money import card_fee
from .scheduler import job

AUTHORIZATION_VALIDITY = timedelta(days=7)
MIN_CARD_AMOUNT = 50


@dataclass(frozen=True)
class Outcome:
    code: str | None = None  # error code; None = approved
    decline_code: str | None = None
    message: str = ""
    retryable: bool = False
    auto_dispute: bool = False


APPROVED = Outcome()
# Test numbers decide what the issuer says. Any other Luhn-valid number is approved.
TEST_CARDS: dict[str, Outcome] = {
    "4000000000000002": Outcome("card_declined", "generic_decline", "The card was declined."),
    "4000000000009995": Outcome("card_declined", "insufficient_funds", "The card has insufficient funds."),
    "4000000000000069": Outcome("expired_card", "expired_card", "The card has expired."),
    "4000000000000127": Outcome("incorrect_cvc", "incorrect_cvc", "The card's security code is incorrect."),
    "4000000000000119": Outcome(
        "processing_error", "processing_error", "An error occurred while processing the card.", retryable=True
    ),
    "4000000000000259": Outcome(auto_dispute=True),
}

# Same on every acquirer so the platform sees one fingerprint per card whichever acquirer tokenized it.
_FINGERPRINT_KEY = b"ledgerline-sandbox-fingerprint"


def luhn_ok(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if re.match(r"^(5[1-5]|2(2[2-9]|[3-6]\d|7[01]|720))", number):
        return "mastercard"
    if re.match(r"^3[47]", number):
        return "amex"
    if re.match(r"^(6011|65|64[4-9])", number):
        return "discover"
    return "unknown"


def _charge_or_404(call: Call) -> dict[str, Any]:
    charge = call.sb.store.get(call.path["charge_id"], "charge", call.provider)
    if charge is None:
        raise not_found("resource_missing", f"no charge {call.path['charge_id']}")
    return charge


def best_of(objects: list[dict[str, Any]], good: tuple[str, ...]) -> dict[str, Any]:
    """What a status lookup by reference returns: a successful attempt if any, else the latest one."""
    for candidate in objects[::-1]:
        if candidate["status"] in good:
            return candidate
    return objects[-1]


# --- tokens -------------------------------------------------------------------------------------------------


def tokenize(call: Call) -> Reply:
    body = call.body
    number = re.sub(r"[\s-]", "", str(body.get("number", "")))
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_ok(number):
        raise invalid("invalid_number", "The card number is not a valid card number.", "number")
    exp_month, exp_year = body.get("exp_month"), body.get("exp_year")
    if isinstance(exp_month, bool) or not isinstance(exp_month, int) or not 1 <= exp_month <= 12:
        raise invalid("invalid_expiry_month", "exp_month must be an integer 1-12.", "exp_month")
    if isinstance(exp_year, bool) or not isinstance(exp_year, int) or not 2000 <= exp_year <= 2100:
        raise invalid("invalid_expiry_year", "exp_year must be a four-digit year.", "exp_year")
    today = call.sb.now()
    if (exp_year, exp_month) < (today.year, today.month):
        raise invalid("expired_card", "The card's expiration date is in the past.", "exp_year")
    brand = brand_of(number)
    cvc = str(body.get("cvc") or "")
    # No cvc at all is a card-on-file tokenization (a merchant's saved card, whose CVC is long destroyed).
    if cvc and not re.fullmatch(r"\d{4}" if brand == "amex" else r"\d{3}", cvc):
        raise invalid("invalid_cvc", "The card's security code is invalid.", "cvc")
    token = {
        "id": call.sb.new_id("tok"),
        "object": "token",
        "provider": call.provider,
        "created": call.sb.now_iso(),
        "card": {
            "brand": brand,
            "last4": number[-4:],
            "fingerprint": hmac.new(_FINGERPRINT_KEY, number.encode(), hashlib.sha256).hexdigest()[:16],
            "exp_month": exp_month,
            "exp_year": exp_year,
        },
        # The number itself is never stored; only which issuer behaviour it selects.
        "_outcome": number if number in TEST_CARDS else None,
    }
    call.sb.store.put(token)
    return Reply(200, public(token))


# --- charges ------------------------------------------------------------------------------------------------


def authorize(call: Call) -> Reply:
    sb, body, provider = call.sb, call.body, call.provider
    token_id = validation.required_text(body, "token")
    amount = validation.required_amount(body, minimum=MIN_CARD_AMOUNT)
    currency = validation.currency(body)
    reference = validation.required_text(body, "reference")
    capture = validation.flag(body, "capture", default=False)
    token = sb.store.get(token_id, "token", provider)
    if token is None:
        raise invalid("token_not_found", f"no token {token_id} at {provider} (tokens are per acquirer)", "token")
    existing = [c for c in sb.store.by_reference(provider, "charge", reference) if c["status"] != "failed"]
    if existing:
        raise conflict(
            "reference_already_used",
            f"reference {reference} already has charge {existing[-1]['id']}",
            charge=existing[-1]["id"],
        )
    outcome = TEST_CARDS.get(token["_outcome"] or "", APPROVED)
    now = sb.now_iso()
    charge: dict[str, Any] = {
        "id": sb.new_id("ch"),
        "object": "charge",
        "provider": provider,
        "reference": reference,
        "created": now,
        "amount": amount,
        "currency": currency,
        "status": "authorized",
        "captured": False,
        "amount_authorized": amount,
        "amount_captured": 0,
        "amount_refunded": 0,
        "amount_refund_pending": 0,
        "fee": 0,
        "net": 0,
        "card": token["card"],
        "token": token_id,
        "description": validation.text(body, "description", required=False, max_length=1000),
        "metadata": validation.metadata(body),
        "failure_code": None,
        "decline_code": None,
        "failure_message": None,
        "authorized_at": None,
        "captured_at": None,
        "voided_at": None,
        "authorization_expires_at": None,
        "disputed": False,
        "dispute": None,
        "_auto_dispute": outcome.auto_dispute,
    }
    if outcome.code is not None:
        charge.update(
            status="failed",
            amount_authorized=0,
            failure_code=outcome.code,
            decline_code=outcome.decline_code,
            failure_message=outcome.message,
        )
        sb.store.put(charge)
        sb.emit(provider, "charge.failed", charge)
        error = ApiError(
            402,
            "card_error",
            outcome.code,
            outcome.message,
            retryable=outcome.retryable,
            extra={"decline_code": outcome.decline_code, "charge": charge["id"]},
        )
        body_out = error.body()
        body_out["charge"] = public(charge)
        return Reply(402, body_out, {"Should-Retry": "true" if outcome.retryable else "false"})
    charge.update(
        authorized_at=now,
        authorization_expires_at=iso(parse_iso(now) + AUTHORIZATION_VALIDITY),
    )
    sb.record(
        provider,
        "charge",
        reference=reference,
        object_id=charge["id"],
        charge_id=charge["id"],
        amount=amount,
        currency=currency,
    )
    sb.store.put(charge)
    sb.emit(provider, "charge.authorized", charge)
    if capture:
        _apply_capture(sb, charge, amount)
    return Reply(200, public(charge))


def _apply_capture(sb: Sandbox, charge: dict[str, Any], amount: int) -> None:
    now = sb.now_iso()
    fee = card_fee(amount)
    charge.update(status="captured", captured=True, amount_captured=amount, fee=fee, net=amount - fee, captured_at=now)
    sb.store.put(charge)
    sb.record(
        charge["provider"],
        "capture",
        reference=charge["reference"],
        object_id=charge["id"],
        charge_id=charge["id"],
        amount=amount,
        currency=charge["currency"],
        fee=fee,
    )
    settlement.add_item(
        sb,
        provider=charge["provider"],
        type_="charge",
        provider_reference=charge["id"],
        our_reference=charge["reference"],
        currency=charge["currency"],
        gross=amount,
        fee=fee,
        transaction_at=now,
    )
    sb.emit(charge["provider"], "charge.captured", charge)
    if charge.get("_auto_dispute"):
        sb.schedule(sb.tunables.auto_dispute_delay_seconds, "card.auto_dispute", {"charge": charge["id"]})


@job("card.auto_dispute")
def _auto_dispute(sb: Sandbox, payload: dict[str, Any]) -> None:
    from .disputes import open_dispute  # imported late: disputes builds on charges

    charge = sb.store.get(payload["charge"], "charge")
    if charge is not None and not charge["disputed"]:
        open_dispute(sb, charge, reason="fraudulent", amount=None)


def _check_authorization_alive(sb: Sandbox, charge: dict[str, Any]) -> None:
    if charge["status"] == "authorized" and sb.now() >= parse_iso(charge["authorization_expires_at"]):
        raise conflict("authorization_expired", "the authorization expired (7 days) and can no longer be captured")


def capture(call: Call) -> Reply:
    charge = _charge_or_404(call)
    amount = validation.amount(call.body, required=False)
    if charge["status"] != "authorized":
        code = "charge_already_captured" if charge["status"] == "captured" else "charge_not_capturable"
        raise conflict(code, f"charge is {charge['status']}; only an authorized charge can be captured (once)")
    _check_authorization_alive(call.sb, charge)
    amount = charge["amount_authorized"] if amount is None else amount
    if amount > charge["amount_authorized"]:
        raise invalid("amount_exceeds_authorized", "cannot capture more than was authorized", "amount")
    _apply_capture(call.sb, charge, amount)
    return Reply(200, public(charge))


def void(call: Call) -> Reply:
    charge = _charge_or_404(call)
    if charge["status"] != "authorized":
        raise conflict("charge_not_voidable", f"charge is {charge['status']}; only an authorized charge can be voided")
    sb = call.sb
    charge.update(status="voided", voided_at=sb.now_iso())
    sb.store.put(charge)
    sb.record(
        call.provider,
        "void",
        reference=charge["reference"],
        object_id=charge["id"],
        charge_id=charge["id"],
        amount=charge["amount_authorized"],
        currency=charge["currency"],
    )
    sb.emit(call.provider, "charge.voided", charge)
    return Reply(200, public(charge))


def retrieve(call: Call) -> Reply:
    return Reply(200, public(_charge_or_404(call)))


def by_reference(call: Call) -> Reply:
    reference = call.path["reference"]
    charges = call.sb.store.by_reference(call.provider, "charge", reference)
    if not charges:
        raise not_found("reference_not_found", f"{call.provider} never received a charge with reference {reference}")
    found = public(best_of(charges, ("authorized", "captured", "voided")))
    found["attempts"] = len(charges)
    return Reply(200, found)
