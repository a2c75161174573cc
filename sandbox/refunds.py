"""Refunds for both card acquirers and UPI: never more than captured, possibly asynchronous.

Card refunds succeed at once unless a ``refund_pending``/``refund_fail`` fault applies; UPI refunds are always
``pending`` first (money goes back to the paying VPA later). Amounts in flight count against the refundable
amount, so concurrent refunds can never exceed what was captured.
"""

from __future__ import annotations

from typing import Any

from . import settlement, validation
from .core import Sandbox, public
from .endpoint import Call, Reply
from .errors import conflict, invalid, not_found
from .scheduler import job

_OPEN_DISPUTE = ("needs_response", "under_review", "lost")


def _parent(call: Call) -> dict[str, Any]:
    if call.provider == "upi":
        txn = call.sb.store.get(call.path["txn_id"], "upi_transaction", "upi")
        if txn is None:
            raise not_found("resource_missing", f"no UPI transaction {call.path['txn_id']}")
        if txn["status"] != "succeeded":
            raise conflict("transaction_not_refundable", f"transaction is {txn['status']}; only succeeded ones refund")
        return txn
    charge = call.sb.store.get(call.path["charge_id"], "charge", call.provider)
    if charge is None:
        raise not_found("resource_missing", f"no charge {call.path['charge_id']}")
    if charge["status"] != "captured":
        raise conflict("charge_not_refundable", f"charge is {charge['status']}; only captured charges refund")
    if charge.get("dispute"):
        dispute = call.sb.store.get(charge["dispute"], "dispute")
        if dispute and dispute["status"] in _OPEN_DISPUTE:
            raise conflict("charge_disputed", "the charge has an open or lost dispute; it cannot be refunded")
    return charge


def create(call: Call) -> Reply:
    sb, provider = call.sb, call.provider
    parent = _parent(call)
    refundable = parent["amount_captured"] - parent["amount_refunded"] - parent["amount_refund_pending"]
    requested = validation.amount(call.body, required=False)
    amount = refundable if requested is None else requested
    if amount <= 0 or amount > refundable:
        raise invalid(
            "amount_exceeds_refundable",
            f"refundable amount is {refundable} (captured {parent['amount_captured']}, refunded "
            f"{parent['amount_refunded']}, pending {parent['amount_refund_pending']})",
            "amount",
        )
    reference = validation.text(call.body, "reference", required=False)
    if reference:
        taken = [r for r in sb.store.by_reference(provider, "refund", reference) if r["status"] != "failed"]
        if taken:
            raise conflict("reference_already_used", f"refund reference {reference} is taken", refund=taken[-1]["id"])
    fail = sb.faults.behaviour(provider, "refund", "refund_fail")
    pending = provider == "upi" or bool(fail) or bool(sb.faults.behaviour(provider, "refund", "refund_pending"))
    refund: dict[str, Any] = {
        "id": sb.new_id("re"),
        "object": "refund",
        "provider": provider,
        "reference": reference,
        "parent_id": parent["id"],
        "payment": parent["id"],
        "payment_reference": parent["reference"],
        "created": sb.now_iso(),
        "amount": amount,
        "currency": parent["currency"],
        "fee": 0,
        "status": "pending",
        "reason": validation.text(call.body, "reason", required=False),
        "failure_code": None,
        "failure_message": None,
        "succeeded_at": None,
        "rrn": None,
        "credited_vpa": parent.get("payer_vpa") if provider == "upi" else None,
    }
    sb.store.put(refund)
    parent["amount_refund_pending"] += amount
    sb.store.put(parent)
    if pending:
        sb.schedule(
            sb.tunables.refund_delay_seconds,
            "refund.complete",
            {"refund": refund["id"], "outcome": "failed" if fail else "succeeded"},
        )
    else:
        complete(sb, refund, "succeeded")
    return Reply(200, public(refund))


def complete(sb: Sandbox, refund: dict[str, Any], outcome: str) -> None:
    if refund["status"] != "pending":
        return
    parent = sb.store.get(refund["parent_id"])
    if parent is None:
        return
    amount, provider, now = refund["amount"], refund["provider"], sb.now_iso()
    parent["amount_refund_pending"] -= amount
    if outcome == "succeeded":
        parent["amount_refunded"] += amount
        refund.update(status="succeeded", succeeded_at=now, rrn=sb.new_rrn() if provider == "upi" else None)
        sb.record(
            provider,
            "refund",
            reference=parent["reference"],
            object_id=refund["id"],
            charge_id=parent["id"],
            amount=amount,
            currency=refund["currency"],
        )
        settlement.add_item(
            sb,
            provider=provider,
            type_="refund",
            provider_reference=refund["id"],
            our_reference=refund["reference"] or parent["reference"],
            currency=refund["currency"],
            gross=-amount,
            fee=0,
            transaction_at=now,
            rrn=refund["rrn"],
            original_provider_reference=parent["id"],
        )
    else:
        refund.update(
            status="failed",
            failure_code="refund_failed",
            failure_message="The bank could not return the money (closed account or network failure).",
        )
    sb.store.put(parent)
    sb.store.put(refund)
    sb.emit(provider, f"refund.{refund['status']}", refund)


@job("refund.complete")
def _complete_job(sb: Sandbox, payload: dict[str, Any]) -> None:
    refund = sb.store.get(payload["refund"], "refund")
    if refund is not None:
        complete(sb, refund, payload["outcome"])


def retrieve(call: Call) -> Reply:
    refund = call.sb.store.get(call.path["refund_id"], "refund", call.provider)
    if refund is None:
        raise not_found("resource_missing", f"no refund {call.path['refund_id']}")
    return Reply(200, public(refund))


def by_reference(call: Call) -> Reply:
    reference = call.path["reference"]
    refunds = call.sb.store.by_reference(call.provider, "refund", reference)
    if not refunds:
        raise not_found("reference_not_found", f"{call.provider} never received a refund with reference {reference}")
    found = refunds[-1]
    for refund in reversed(refunds):
        if refund["status"] != "failed":
            found = refund
            break
    return Reply(200, public(found))
