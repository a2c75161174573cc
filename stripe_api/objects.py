"""Stripe's object shapes, translated from the platform's own representations.

Every function takes what the platform already renders (the dicts of ``payments.representations``, which are also
the payloads of its events), so an API response and a webhook of the same object are translated by the same code.
Where Stripe has a concept the platform lacks, the nearest honest equivalent is given and documented in
docs/stripe-compatibility.md (``latest_charge`` is the provider attempt that charged the card, for instance).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stripe_api.errors import CARD_ERROR_CODES

# The API version these shapes follow; sent back on events as Stripe does.
API_VERSION = "2026-10-28.endive"

# Our payment statuses as a PaymentIntent's: a failed payment is one that needs another payment method.
_INTENT_STATUSES = {
    "requires_confirmation": "requires_confirmation",
    "processing": "processing",
    "requires_action": "requires_action",
    "requires_capture": "requires_capture",
    "succeeded": "succeeded",
    "failed": "requires_payment_method",
    "canceled": "canceled",
}
_DISPUTE_STATUSES = {"accepted": "lost"}  # accepting a dispute closes it as lost, as in Stripe


def unix(value: Any) -> int | None:
    """Unix seconds from the platform's ISO 8601 timestamps (or datetimes)."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return int(moment.timestamp())


def _latest_charge(payment: dict[str, Any]) -> str | None:
    authorizations = [a for a in payment.get("attempts") or [] if a.get("operation") == "authorize"]
    return str(authorizations[-1]["id"]) if authorizations else None


def last_payment_error(payment: dict[str, Any]) -> dict[str, Any] | None:
    if payment.get("status") != "failed":
        return None
    failure = str(payment.get("failure_code") or "card_declined")
    code, decline_code = (failure, failure) if failure in CARD_ERROR_CODES else ("card_declined", failure)
    method = payment.get("payment_method") or {}
    return {
        "type": "card_error",
        "code": code,
        "decline_code": decline_code,
        "message": payment.get("failure_message") or "Your card was declined.",
        "payment_method": payment_method_from_payment(payment) if method.get("id") else None,
    }


def _next_action(payment: dict[str, Any]) -> dict[str, Any] | None:
    action = payment.get("next_action")
    if not action:
        return None
    # No Stripe type fits a UPI approval; the platform's own action travels under its own name.
    return {"type": "upi_approval", "upi_approval": action}


def payment_intent(payment: dict[str, Any]) -> dict[str, Any]:
    method = payment.get("payment_method") or {}
    status = _INTENT_STATUSES.get(str(payment.get("status")), str(payment.get("status")))
    return {
        "id": payment["id"],
        "object": "payment_intent",
        "amount": payment["amount"],
        "amount_capturable": payment["amount"] if payment.get("status") == "requires_capture" else 0,
        "amount_received": payment.get("amount_captured", 0),
        "amount_refunded": payment.get("amount_refunded", 0),
        "capture_method": payment.get("capture_method"),
        "cancellation_reason": payment.get("cancellation_reason"),
        "client_secret": None,
        "confirmation_method": "automatic",
        "created": unix(payment.get("created")),
        "currency": payment["currency"],
        "customer": payment.get("customer"),
        "description": payment.get("description") or None,
        "last_payment_error": last_payment_error(payment),
        "latest_charge": _latest_charge(payment),
        "livemode": payment.get("livemode", False),
        "metadata": payment.get("metadata") or {},
        "next_action": _next_action(payment),
        "payment_method": method.get("id"),
        "payment_method_types": [method.get("type") or "card"],
        "receipt_email": payment.get("customer_email"),
        "setup_future_usage": payment.get("setup_future_usage"),
        "status": status,
    }


def payment_method_from_payment(payment: dict[str, Any]) -> dict[str, Any]:
    """The payment method as a payment shows it (no ``created`` of its own there)."""
    method = payment.get("payment_method") or {}
    return payment_method(
        {
            "id": method.get("id"),
            "type": method.get("type"),
            "card": method.get("card"),
            "upi": {"vpa": (method.get("upi") or {}).get("vpa")} if method.get("upi") else None,
            "customer": payment.get("customer"),
            "livemode": payment.get("livemode", False),
            "metadata": {},
        }
    )


def charge(payment: dict[str, Any]) -> dict[str, Any]:
    """A Charge derived from the payment: the platform has no separate charge object (see the module docstring)."""
    captured = int(payment.get("amount_captured") or 0)
    refunded = int(payment.get("amount_refunded") or 0)
    status = {"succeeded": "succeeded", "failed": "failed"}.get(str(payment.get("status")), "pending")
    return {
        "id": _latest_charge(payment),
        "object": "charge",
        "amount": payment["amount"],
        "amount_captured": captured,
        "amount_refunded": refunded,
        "captured": captured > 0,
        "created": unix(payment.get("created")),
        "currency": payment["currency"],
        "customer": payment.get("customer"),
        "description": payment.get("description") or None,
        "disputed": bool(payment.get("disputed")),
        "failure_code": payment.get("failure_code"),
        "failure_message": payment.get("failure_message"),
        "livemode": payment.get("livemode", False),
        "metadata": payment.get("metadata") or {},
        "paid": payment.get("status") in ("succeeded", "requires_capture"),
        "payment_intent": payment["id"],
        "payment_method": (payment.get("payment_method") or {}).get("id"),
        "refunded": captured > 0 and refunded >= captured,
        "status": status,
    }


def refund(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": value["id"],
        "object": "refund",
        "amount": value["amount"],
        "charge": None,
        "created": unix(value.get("created")),
        "currency": value["currency"],
        "failure_reason": value.get("failure_reason"),
        "metadata": value.get("metadata") or {},
        "payment_intent": value.get("payment"),
        "reason": value.get("reason"),
        "status": value.get("status"),
    }


def customer(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": value["id"],
        "object": "customer",
        "created": unix(value.get("created")),
        "description": None,
        "email": value.get("email"),
        "invoice_settings": {"default_payment_method": None},
        "livemode": value.get("livemode", False),
        "metadata": value.get("metadata") or {},
        "name": value.get("name"),
    }


def customer_deleted(customer_id: str) -> dict[str, Any]:
    return {"id": customer_id, "object": "customer", "deleted": True}


def payment_method(value: dict[str, Any]) -> dict[str, Any]:
    card = value.get("card")
    shaped: dict[str, Any] = {
        "id": value.get("id"),
        "object": "payment_method",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "created": unix(value.get("created")),
        "customer": value.get("customer"),
        "livemode": value.get("livemode", False),
        "metadata": value.get("metadata") or {},
        "type": value.get("type"),
    }
    if card:
        shaped["card"] = {
            "brand": card.get("brand"),
            "last4": card.get("last4"),
            "exp_month": card.get("exp_month"),
            "exp_year": card.get("exp_year"),
            "fingerprint": card.get("fingerprint"),
            "funding": "unknown",
            "country": None,
        }
    if value.get("upi"):
        shaped["upi"] = {"vpa": value["upi"].get("vpa")}
    return shaped


def payout(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": value["id"],
        "object": "payout",
        "amount": value["amount"],
        "arrival_date": unix(value.get("arrival_date")),
        "created": unix(value.get("created")),
        "currency": value["currency"],
        "description": value.get("description") or None,
        "failure_code": value.get("failure_code"),
        "livemode": value.get("livemode", False),
        "metadata": value.get("metadata") or {},
        "method": "standard",
        "status": value.get("status"),
        "type": "bank_account",
    }


def dispute(value: dict[str, Any]) -> dict[str, Any]:
    status = str(value.get("status"))
    evidence = value.get("evidence") or {}
    return {
        "id": value["id"],
        "object": "dispute",
        "amount": value["amount"],
        "charge": None,
        "created": unix(value.get("created")),
        "currency": value["currency"],
        "evidence": evidence,
        "evidence_details": {
            "due_by": unix(value.get("evidence_due_by")),
            "has_evidence": bool(evidence),
            "past_due": False,
            "submission_count": 1 if value.get("evidence_submitted_at") else 0,
        },
        "is_charge_refundable": False,
        "livemode": value.get("livemode", False),
        "metadata": {},
        "payment_intent": value.get("payment"),
        "reason": value.get("reason") or "general",
        "status": _DISPUTE_STATUSES.get(status, status),
    }


def balance_transaction(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": value["id"],
        "object": "balance_transaction",
        "amount": value["amount"],
        "available_on": unix(value.get("available_on")),
        "created": unix(value.get("created")),
        "currency": value["currency"],
        "description": value.get("description") or None,
        "fee": value["fee"],
        "net": value["net"],
        "reporting_category": value["type"],
        "source": value.get("source"),
        "status": value["status"],
        "type": value["type"],
    }


def list_object(data: list[dict[str, Any]], *, has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
