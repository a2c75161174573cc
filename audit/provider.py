"""The provider's truth against ours: every money movement the provider applied (the sandbox's
``/_control/records``) is matched to our payments, attempts, disputes and the ledger, and every final state of ours
to what the provider did.

A payment is judged only once it is final on our side and none of its attempts is still open or watched: one
still in flight is counted (``in_flight_payments``) and left to the in-doubt check, which makes sure somebody
will settle it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from audit.findings import AuditReport
from ledger.models import JournalTransaction
from payments.enums import AttemptOperation, AttemptOutcome, CancellationReason, PaymentMethodType, PaymentStatus
from payments.models import Dispute, Payment, PaymentAttempt

_FINAL = (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELED)
_OPEN = (AttemptOutcome.PENDING, AttemptOutcome.UNKNOWN)


def provider_records_fetch(sandbox_url: str, *, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every money movement the provider applied, in order (the sandbox's independent truth log)."""
    response = httpx.get(f"{sandbox_url.rstrip('/')}/_control/records", timeout=timeout)
    response.raise_for_status()
    return list(response.json()["data"])


@dataclass(slots=True)
class _AtProvider:
    charges: list[dict[str, Any]] = field(default_factory=list)
    captured: int = 0
    voided: set[str] = field(default_factory=set)
    refunds: list[int] = field(default_factory=list)


def provider_agreement_check(report: AuditReport, records: list[dict[str, Any]]) -> None:
    payments = {
        p.id: p
        for p in Payment.objects.only(
            "id", "status", "amount", "amount_captured", "currency", "payment_method_type", "cancellation_reason"
        )
    }
    attempts: dict[str, list[PaymentAttempt]] = defaultdict(list)
    for attempt in PaymentAttempt.objects.only(
        "id", "payment_id", "operation", "outcome", "amount", "review_reason", "refund_id", "next_check_at"
    ).order_by("id"):
        attempts[attempt.payment_id].append(attempt)
    # The provider knows a charge by our reference: the id of the authorization attempt that asked for it.
    payment_of = {
        a.id: pid for pid, rows in attempts.items() for a in rows if a.operation == AttemptOperation.AUTHORIZE
    }
    seen: dict[str, _AtProvider] = defaultdict(_AtProvider)
    report.counts["provider_records"] += len(records)
    for record in records:
        payment_id = payment_of.get(str(record.get("reference") or ""))
        if payment_id is None:
            check = "provider_charge_without_payment" if record["kind"] == "charge" else "provider_movement_unknown"
            report.add(
                check,
                str(record["object_id"]),
                f"{record['provider']} {record['kind']} of {record['amount']} {record['currency']} under reference "
                f"{record.get('reference')!r}, which is none of our attempts",
            )
            continue
        at = seen[payment_id]
        kind = record["kind"]
        if kind == "charge":
            at.charges.append(record)
            if payments[payment_id].payment_method_type == PaymentMethodType.UPI:
                at.captured += int(record["amount"])  # a UPI payment is captured when it succeeds
        elif kind == "capture":
            at.captured += int(record["amount"])
        elif kind == "void":
            at.voided.add(str(record["charge_id"]))
        elif kind == "refund":
            at.refunds.append(int(record["amount"]))
    captured_in_ledger = {
        t.source_id: int(t.metadata.get("gross") or 0)
        for t in JournalTransaction.objects.filter(source_type="payment", reference__endswith=":capture").only(
            "source_id", "metadata"
        )
    }
    for payment_id, payment in payments.items():
        report.counts["payments"] += 1
        rows = attempts.get(payment_id, [])
        # Still watched counts as in flight too: a failed UPI attempt is asked again for a late ("deemed") success.
        if payment.status not in _FINAL or any(a.outcome in _OPEN or a.next_check_at for a in rows):
            report.counts["in_flight_payments"] += 1
            continue
        _payment_agrees(report, payment, rows, seen.get(payment_id, _AtProvider()), captured_in_ledger.get(payment_id))
    _disputes_agree(report, records)


def _payment_agrees(
    report: AuditReport, payment: Payment, rows: list[PaymentAttempt], at: _AtProvider, ledger_gross: int | None
) -> None:
    pid, status = payment.id, payment.status
    live = [c for c in at.charges if c["charge_id"] not in at.voided]
    if len(live) > 1:
        ids = ", ".join(c["object_id"] for c in live)
        report.add("payment_charged_twice", pid, f"{len(live)} charges at the provider, none voided: {ids}")
    for charge in at.charges:
        if int(charge["amount"]) != payment.amount or charge["currency"] != payment.currency:
            report.add(
                "charge_amount_mismatch",
                pid,
                f"{charge['object_id']} is {charge['amount']} {charge['currency']}, "
                f"the payment {payment.amount} {payment.currency}",
            )
    if status == PaymentStatus.SUCCEEDED:
        if not at.charges:
            report.add("succeeded_without_charge", pid, "succeeded here, the provider never charged it")
        elif at.captured != payment.amount_captured:
            report.add(
                "captured_amount_mismatch",
                pid,
                f"captured {payment.amount_captured} here, {at.captured} at the provider",
            )
    elif at.captured:
        late = any(a.review_reason.startswith("late_success") for a in rows)
        if not late:
            report.add(
                f"captured_but_{status}",
                pid,
                f"{status} here, {at.captured} captured at the provider and not flagged as a late success",
            )
    elif live and status == PaymentStatus.CANCELED:
        if payment.cancellation_reason != CancellationReason.AUTHORIZATION_EXPIRED:
            report.add("canceled_without_void", pid, f"canceled here, {live[0]['object_id']} still authorized")
    elif live:
        report.add("authorization_left_open", pid, f"{status} here, {live[0]['object_id']} still authorized")
    if at.captured != (ledger_gross or 0):
        report.add(
            "ledger_capture_mismatch", pid, f"the ledger has {ledger_gross or 0} captured, the provider {at.captured}"
        )
    ours = sorted(a.amount for a in rows if a.operation == AttemptOperation.REFUND and a.outcome == "succeeded")
    if ours != sorted(at.refunds):
        report.add("refunds_mismatch", pid, f"refunds here {ours}, at the provider {sorted(at.refunds)}")


def _disputes_agree(report: AuditReport, records: list[dict[str, Any]]) -> None:
    opened = {(r["provider"], r["object_id"]) for r in records if r["kind"] == "chargeback"}
    ours = {
        (d.connector, d.provider_reference): d.id for d in Dispute.objects.only("id", "connector", "provider_reference")
    }
    in_ledger = set(
        JournalTransaction.objects.filter(source_type="dispute", reference__endswith=":opened").values_list(
            "source_id", flat=True
        )
    )
    report.counts["disputes"] += len(ours)
    for provider, dispute_ref in sorted(opened - ours.keys()):
        report.add("chargeback_without_dispute", dispute_ref, f"{provider} charged back a payment; we have no dispute")
    for key, dispute_id in sorted(ours.items()):
        if key not in opened:
            report.add("dispute_without_chargeback", dispute_id, f"{key[0]} has no chargeback {key[1]}")
        if dispute_id not in in_ledger:
            report.add("dispute_not_in_ledger", dispute_id, "no dispute posting in the ledger")
