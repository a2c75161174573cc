"""Chargebacks on captured card charges: opened by control (or test card 4000000000000259), evidence submitted by
the platform, resolved won/lost by control. Every step sends a webhook and moves money in the settlement file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import settlement
from .clock import iso
from .core import Sandbox, public
from .endpoint import Call, Reply
from .errors import conflict, invalid, not_found
from .money import DISPUTE_FEE

OPEN_STATUSES = ("needs_response", "under_review")


def open_dispute(sb: Sandbox, charge: dict[str, Any], *, reason: str, amount: int | None) -> dict[str, Any]:
    if charge["status"] != "captured":
        raise conflict("charge_not_disputable", f"charge is {charge['status']}; only captured charges are disputed")
    if charge.get("dispute"):
        raise conflict("charge_already_disputed", "the charge already has a dispute", dispute=charge["dispute"])
    amount = charge["amount_captured"] if amount is None else amount
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= charge["amount_captured"]:
        raise invalid("invalid_amount", "dispute amount must be an integer within the captured amount", "amount")
    provider, now = charge["provider"], sb.now()
    dispute: dict[str, Any] = {
        "id": sb.new_id("dp"),
        "object": "dispute",
        "provider": provider,
        "reference": charge["reference"],
        "parent_id": charge["id"],
        "charge": charge["id"],
        "created": iso(now),
        "amount": amount,
        "currency": charge["currency"],
        "fee": DISPUTE_FEE,
        "reason": reason,
        "status": "needs_response",
        "evidence": None,
        "evidence_submitted_at": None,
        "evidence_due_by": iso(now + timedelta(days=sb.tunables.dispute_evidence_days)),
        "closed_at": None,
    }
    sb.store.put(dispute)
    charge.update(disputed=True, dispute=dispute["id"])
    sb.store.put(charge)
    sb.record(
        provider,
        "chargeback",
        reference=charge["reference"],
        object_id=dispute["id"],
        charge_id=charge["id"],
        amount=amount,
        currency=charge["currency"],
        fee=DISPUTE_FEE,
    )
    common = {
        "provider": provider,
        "provider_reference": dispute["id"],
        "our_reference": charge["reference"],
        "currency": charge["currency"],
        "transaction_at": dispute["created"],
        "original_provider_reference": charge["id"],
    }
    settlement.add_item(sb, type_="chargeback", gross=-amount, fee=0, **common)
    settlement.add_item(sb, type_="fee_adjustment", gross=0, fee=DISPUTE_FEE, **common)
    sb.emit(provider, "dispute.created", dispute)
    return dispute


def resolve(sb: Sandbox, dispute: dict[str, Any], outcome: str, *, closed_reason: str = "decided") -> dict[str, Any]:
    if outcome not in ("won", "lost"):
        raise invalid("invalid_outcome", "outcome must be 'won' or 'lost'", "outcome")
    if dispute["status"] not in OPEN_STATUSES:
        raise conflict("dispute_closed", f"dispute is already {dispute['status']}")
    now = sb.now_iso()
    dispute.update(status=outcome, closed_at=now, closed_reason=closed_reason)
    sb.store.put(dispute)
    if outcome == "won":
        sb.record(
            dispute["provider"],
            "chargeback_reversal",
            reference=dispute["reference"],
            object_id=dispute["id"],
            charge_id=dispute["charge"],
            amount=dispute["amount"],
            currency=dispute["currency"],
        )
        settlement.add_item(
            sb,
            provider=dispute["provider"],
            type_="chargeback_reversal",
            provider_reference=dispute["id"],
            our_reference=dispute["reference"],
            currency=dispute["currency"],
            gross=dispute["amount"],
            fee=0,
            transaction_at=now,
            original_provider_reference=dispute["charge"],
        )
    sb.emit(dispute["provider"], f"dispute.{outcome}", dispute)
    return dispute


def _dispute_or_404(call: Call) -> dict[str, Any]:
    dispute = call.sb.store.get(call.path["dispute_id"], "dispute", call.provider)
    if dispute is None:
        raise not_found("resource_missing", f"no dispute {call.path['dispute_id']}")
    return dispute


def retrieve(call: Call) -> Reply:
    return Reply(200, public(_dispute_or_404(call)))


def list_disputes(call: Call) -> Reply:
    charge_id = call.query.get("charge")
    if charge_id:
        disputes = call.sb.store.children(charge_id, "dispute")
    else:
        disputes = call.sb.store.list_kind(call.provider, "dispute")
    data = [public(d) for d in disputes if d["provider"] == call.provider]
    return Reply(200, {"object": "list", "data": data})


def submit_evidence(call: Call) -> Reply:
    dispute = _dispute_or_404(call)
    evidence = call.body.get("evidence")
    if not isinstance(evidence, dict) or not evidence:
        raise invalid("parameter_missing", "evidence must be a non-empty object", "evidence")
    if dispute["status"] != "needs_response":
        raise conflict("dispute_not_open", f"dispute is {dispute['status']}; evidence is accepted once, while open")
    if call.sb.now_iso() > dispute["evidence_due_by"]:
        raise conflict("evidence_past_due", "the evidence deadline has passed")
    submit = call.body.get("submit", True) is not False
    dispute["evidence"] = evidence
    if submit:
        dispute.update(status="under_review", evidence_submitted_at=call.sb.now_iso())
    call.sb.store.put(dispute)
    call.sb.emit(call.provider, "dispute.updated", dispute)
    return Reply(200, public(dispute))


def accept(call: Call) -> Reply:
    dispute = _dispute_or_404(call)
    return Reply(200, public(resolve(call.sb, dispute, "lost", closed_reason="accepted")))
