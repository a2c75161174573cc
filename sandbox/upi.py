"""UPI: intent (QR / deep link) and collect flows, VPA verification, payer approval, expiry, late success.

The payer's side is simulated: ``/approve`` and ``/decline`` endpoints (no API key: they stand for the payer's
UPI app), an HTML page with both buttons, and test VPAs that answer on their own after a delay that follows the
virtual clock.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from . import settlement, validation
from .clock import iso, parse_iso
from .core import Sandbox, public
from .endpoint import Call, Reply
from .errors import ApiError, conflict, invalid, not_found
from .money import rupees, upi_fee
from .scheduler import job

MIN_EXPIRES_IN, MAX_EXPIRES_IN, DEFAULT_EXPIRES_IN = 300, 900, 600
MIN_AMOUNT = 100  # 1 rupee
MAX_AMOUNT = 10_000_000  # the usual 1 lakh rupee per-transaction limit
VPA_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,255}@[A-Za-z][A-Za-z0-9]{1,63}$")
DEFAULT_PAYER_VPA = "payer@upi"
# Local parts that verification reports as non-existent accounts.
UNKNOWN_LOCAL_PARTS = ("invalid", "unknown", "notfound")
# Test VPAs (collect target, or ``payer_vpa`` hint of an intent) and what the payer's app does on its own.
TEST_VPAS: dict[str, tuple[str, str]] = {
    "success@upi": ("approve", "upi_auto_delay_seconds"),
    "failure@upi": ("decline", "upi_auto_delay_seconds"),
    "insufficient@upi": ("insufficient", "upi_auto_delay_seconds"),
    "slow@upi": ("approve", "upi_slow_delay_seconds"),
    "expire@upi": ("nothing", ""),
    "deemed@upi": ("late_success", ""),
}
DECLINES = {
    "decline": ("payer_declined", "The payer declined the request in their UPI app."),
    "insufficient": ("insufficient_funds", "The payer's bank reported insufficient funds."),
}


def check_vpa(vpa: Any, param: str = "vpa") -> str:
    if not isinstance(vpa, str) or not VPA_PATTERN.match(vpa):
        raise invalid("invalid_vpa", f"{vpa!r} is not a valid UPI id (expected name@bank)", param)
    return vpa.lower()


def vpa_exists(vpa: str) -> bool:
    return vpa.split("@", 1)[0] not in UNKNOWN_LOCAL_PARTS


def upi_uri(sb: Sandbox, reference: str, amount: int, note: str | None) -> str:
    params = {
        "pa": sb.settings.merchant_vpa,
        "pn": sb.settings.merchant_name,
        "am": rupees(amount),
        "cu": "INR",
        "tr": reference,
    }
    if note:
        params["tn"] = note
    # UPI apps expect the VPA's "@" as is; everything else is percent-encoded.
    return "upi://pay?" + urlencode(params, quote_via=quote, safe="@")


def _txn_or_404(sb: Sandbox, txn_id: str) -> dict[str, Any]:
    txn = sb.store.get(txn_id, "upi_transaction", "upi")
    if txn is None:
        raise not_found("resource_missing", f"no UPI transaction {txn_id}")
    return refresh(sb, txn)


def refresh(sb: Sandbox, txn: dict[str, Any]) -> dict[str, Any]:
    """Apply an expiry that is due but whose job has not run yet, so reads never show a stale ``pending``."""
    if txn["status"] == "pending" and sb.now() >= parse_iso(txn["expires_at"]):
        expire(sb, txn)
    return txn


# --- endpoints ----------------------------------------------------------------------------------------------


def verify_vpa(call: Call) -> Reply:
    vpa = check_vpa(call.body.get("vpa"))
    exists = vpa_exists(vpa)
    name = vpa.split("@", 1)[0].replace(".", " ").title() if exists else None
    return Reply(200, {"object": "vpa", "vpa": vpa, "valid": True, "exists": exists, "account_name": name})


def create(call: Call) -> Reply:
    sb, body = call.sb, call.body
    reference = validation.required_text(body, "reference")
    amount = validation.required_amount(body, minimum=MIN_AMOUNT)
    if amount > MAX_AMOUNT:
        raise invalid("amount_too_large", f"UPI allows at most {MAX_AMOUNT} paise per transaction", "amount")
    currency = body.get("currency", "inr")
    if currency != "inr":
        raise invalid("invalid_currency", "UPI only moves 'inr'", "currency")
    flow = body.get("flow", "intent")
    if flow not in ("intent", "collect"):
        raise invalid("invalid_flow", "flow must be 'intent' or 'collect'", "flow")
    expires_in = body.get("expires_in", DEFAULT_EXPIRES_IN)
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not (MIN_EXPIRES_IN <= expires_in <= MAX_EXPIRES_IN)
    ):
        raise invalid(
            "invalid_expires_in", f"expires_in must be {MIN_EXPIRES_IN}-{MAX_EXPIRES_IN} seconds", "expires_in"
        )
    description = validation.text(body, "description", required=False, max_length=80)
    vpa: str | None = None
    if flow == "collect":
        vpa = check_vpa(body.get("vpa"))
        if not vpa_exists(vpa):
            raise invalid("vpa_not_found", f"no UPI account behind {vpa}", "vpa")
    hint = check_vpa(body["payer_vpa"], "payer_vpa") if body.get("payer_vpa") and flow == "intent" else None
    auto_approve = validation.flag(body, "auto_approve") if flow == "intent" else False
    live = [
        t
        for t in sb.store.by_reference("upi", "upi_transaction", reference)
        if refresh(sb, t)["status"] in ("pending", "succeeded")
    ]
    if live:
        raise conflict(
            "reference_already_used",
            f"reference {reference} has transaction {live[-1]['id']}",
            transaction=live[-1]["id"],
        )

    now = sb.now()
    txn_id = sb.new_id("upi")
    behaviour_vpa = vpa or hint or ("success@upi" if auto_approve else None)
    late_success = bool(sb.faults.behaviour("upi", "create", "late_success"))
    txn: dict[str, Any] = {
        "id": txn_id,
        "object": "upi_transaction",
        "provider": "upi",
        "reference": reference,
        "flow": flow,
        "created": iso(now),
        "amount": amount,
        "currency": "inr",
        "status": "pending",
        "payee_vpa": sb.settings.merchant_vpa,
        "payer_vpa": vpa,
        "upi_uri": upi_uri(sb, reference, amount, description) if flow == "intent" else None,
        "approve_url": str(call.request.url_for("upi_pay_page", txn_id=txn_id)),
        "expires_at": iso(now + timedelta(seconds=expires_in)),
        "description": description,
        "metadata": validation.metadata(body),
        "rrn": None,
        "fee": 0,
        "net": 0,
        "amount_captured": 0,
        "amount_refunded": 0,
        "amount_refund_pending": 0,
        "failure_code": None,
        "failure_message": None,
        "succeeded_at": None,
        "late_success": False,
        "_late_success": late_success or behaviour_vpa == "deemed@upi",
    }
    sb.store.put(txn)
    sb.schedule_at(txn["expires_at"], "upi.expire", {"txn": txn_id})
    action, delay_name = TEST_VPAS.get(behaviour_vpa or "", ("nothing", ""))
    if action in ("approve", "decline", "insufficient"):
        delay = float(getattr(sb.tunables, delay_name))
        sb.schedule(
            delay, "upi.payer_acts", {"txn": txn_id, "action": action, "payer_vpa": vpa or hint or DEFAULT_PAYER_VPA}
        )
    return Reply(200, public(txn))


def retrieve(call: Call) -> Reply:
    return Reply(200, public(_txn_or_404(call.sb, call.path["txn_id"])))


def by_reference(call: Call) -> Reply:
    reference = call.path["reference"]
    txns = [refresh(call.sb, t) for t in call.sb.store.by_reference("upi", "upi_transaction", reference)]
    if not txns:
        raise not_found("reference_not_found", f"upi never received a transaction with reference {reference}")
    found = txns[-1]
    for txn in reversed(txns):
        if txn["status"] == "succeeded":
            found = txn
            break
    result = public(found)
    result["attempts"] = len(txns)
    return Reply(200, result)


def _payer_action(call: Call, action: str) -> Reply:
    sb = call.sb
    txn = _txn_or_404(sb, call.path["txn_id"])
    if txn["status"] == "expired":
        raise conflict("transaction_expired", "the transaction expired before the payer answered")
    if txn["status"] != "pending":
        raise conflict("transaction_not_pending", f"transaction is already {txn['status']}")
    payer_vpa = txn["payer_vpa"] or check_vpa(call.body.get("payer_vpa") or DEFAULT_PAYER_VPA, "payer_vpa")
    if action == "approve":
        succeed(sb, txn, payer_vpa)
    else:
        fail(sb, txn, "decline", payer_vpa)
    return Reply(200, public(txn))


def approve(call: Call) -> Reply:
    return _payer_action(call, "approve")


def decline(call: Call) -> Reply:
    return _payer_action(call, "decline")


# --- state changes ------------------------------------------------------------------------------------------


def succeed(sb: Sandbox, txn: dict[str, Any], payer_vpa: str, *, late: bool = False) -> None:
    now = sb.now_iso()
    fee = upi_fee(txn["amount"])
    txn.update(
        status="succeeded",
        payer_vpa=payer_vpa,
        rrn=sb.new_rrn(),
        fee=fee,
        net=txn["amount"] - fee,
        amount_captured=txn["amount"],
        succeeded_at=now,
        late_success=late,
    )
    if late:
        txn.update(failure_code=None, failure_message=None)
    sb.store.put(txn)
    sb.record(
        "upi",
        "charge",
        reference=txn["reference"],
        object_id=txn["id"],
        charge_id=txn["id"],
        amount=txn["amount"],
        currency="inr",
        fee=fee,
    )
    settlement.add_item(
        sb,
        provider="upi",
        type_="charge",
        provider_reference=txn["id"],
        our_reference=txn["reference"],
        currency="inr",
        gross=txn["amount"],
        fee=fee,
        transaction_at=now,
        rrn=txn["rrn"],
    )
    sb.emit("upi", "upi_transaction.succeeded", txn)


def fail(sb: Sandbox, txn: dict[str, Any], action: str, payer_vpa: str | None) -> None:
    code, message = DECLINES[action]
    txn.update(status="failed", payer_vpa=payer_vpa, failure_code=code, failure_message=message)
    sb.store.put(txn)
    sb.emit("upi", "upi_transaction.failed", txn)
    _maybe_late_success(sb, txn)


def expire(sb: Sandbox, txn: dict[str, Any]) -> None:
    txn.update(status="expired", failure_code="expired", failure_message="The payer did not approve in time.")
    sb.store.put(txn)
    sb.emit("upi", "upi_transaction.expired", txn)
    _maybe_late_success(sb, txn)


def _maybe_late_success(sb: Sandbox, txn: dict[str, Any]) -> None:
    if txn.get("_late_success"):
        sb.schedule(sb.tunables.upi_late_success_seconds, "upi.late_success", {"txn": txn["id"]})


@job("upi.payer_acts")
def _payer_acts(sb: Sandbox, payload: dict[str, Any]) -> None:
    txn = sb.store.get(payload["txn"], "upi_transaction")
    if txn is None or refresh(sb, txn)["status"] != "pending":
        return
    if payload["action"] == "approve":
        succeed(sb, txn, payload["payer_vpa"])
    else:
        fail(sb, txn, payload["action"], payload["payer_vpa"])


@job("upi.expire")
def _expire_job(sb: Sandbox, payload: dict[str, Any]) -> None:
    txn = sb.store.get(payload["txn"], "upi_transaction")
    if txn is not None:
        refresh(sb, txn)


@job("upi.late_success")
def _late_success_job(sb: Sandbox, payload: dict[str, Any]) -> None:
    txn = sb.store.get(payload["txn"], "upi_transaction")
    if txn is not None and txn["status"] in ("expired", "failed"):
        succeed(sb, txn, txn["payer_vpa"] or DEFAULT_PAYER_VPA, late=True)


# --- the payer's page ---------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Sandbox UPI app</title>
<style>body{{font-family:sans-serif;max-width:28em;margin:3em auto}}button{{font-size:1.2em;margin:.5em}}</style>
</head><body>
<h1>Your UPI app (sandbox)</h1>
<p>Pay <b>&#8377;{amount}</b> to <b>{payee}</b> &mdash; reference <code>{reference}</code></p>
<p>Status: <b id="status">{status}</b>{rrn}</p>
{buttons}
</body></html>
"""


async def pay_page(request: Request) -> Response:
    sb: Sandbox = request.app.state.sb
    try:
        txn = _txn_or_404(sb, request.path_params["txn_id"])
    except ApiError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    buttons = ""
    if txn["status"] == "pending":
        approve_url = request.url_for("upi_approve", txn_id=txn["id"])
        decline_url = request.url_for("upi_decline", txn_id=txn["id"])
        buttons = (
            f'<form method="post" action="{approve_url}"><button>Approve in your UPI app</button></form>'
            f'<form method="post" action="{decline_url}"><button>Decline</button></form>'
        )
    rrn = f" &mdash; RRN {html.escape(txn['rrn'])}" if txn["rrn"] else ""
    return HTMLResponse(
        _PAGE.format(
            amount=rupees(txn["amount"]),
            payee=html.escape(txn["payee_vpa"]),
            reference=html.escape(txn["reference"]),
            status=html.escape(txn["status"]),
            rrn=rrn,
            buttons=buttons,
        )
    )


def form_redirect(request: Request, response: Response) -> Response:
    """An HTML form post goes back to the page (303) instead of showing JSON to a human."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return RedirectResponse(str(request.url_for("upi_pay_page", txn_id=request.path_params["txn_id"])), 303)
    return response
