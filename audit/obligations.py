"""What the platform still owes somebody: attempts in doubt must have a janitor schedule, an idempotency key must
have produced one object at most, and every imported settlement line must be matched or queued as a discrepancy.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Q

from audit.findings import AuditReport
from ledger.models import JournalTransaction
from payments.enums import AttemptOutcome, IdempotencyStatus
from payments.models import IdempotencyKey, Payment, PaymentAttempt, Payout, Refund
from reconciliation.enums import SettlementFileStatus
from reconciliation.models import Discrepancy, SettlementLine

# The metadata key a client may set to its Idempotency-Key (the chaos run and the tests do): every object carrying
# one names the request that created it, so two objects under one key are visible whatever happened to the key row.
IDEMPOTENCY_METADATA_KEY = "idempotency_key"
_CREATED: dict[str, type[Payment] | type[Refund] | type[Payout]] = {"pay_": Payment, "re_": Refund, "po_": Payout}


def attempts_in_doubt_check(report: AuditReport) -> None:
    """An open attempt is safe only while something will settle it: a janitor check (``next_check_at``), a stale
    claim the janitor takes over (``locked_at``), or a first run the janitor starts (never started)."""
    open_attempts = PaymentAttempt.objects.filter(outcome__in=[AttemptOutcome.PENDING, AttemptOutcome.UNKNOWN])
    report.counts["attempts_open"] += open_attempts.count()
    orphaned = open_attempts.filter(next_check_at=None).filter(
        Q(outcome=AttemptOutcome.UNKNOWN) | Q(locked_at=None, started_at__isnull=False)
    )
    for attempt in orphaned.only("id", "payment_id", "operation", "outcome").order_by("id")[:500]:
        report.add(
            "attempt_in_doubt_unscheduled",
            attempt.id,
            f"{attempt.operation} of {attempt.payment_id} is {attempt.outcome} and nothing will ever ask again",
        )
    flagged = PaymentAttempt.objects.exclude(review_reason="").count()
    if flagged:
        report.notes.append(f"{flagged} attempt(s) flagged for a person (review_reason set)")


def idempotency_check(report: AuditReport) -> None:
    by_key: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    exists: set[str] = set()
    for prefix, model in _CREATED.items():
        rows = model.objects.values_list("id", "merchant_id", "metadata")
        for object_id, merchant_id, metadata in rows.iterator(chunk_size=5000):
            exists.add(object_id)
            key = metadata.get(IDEMPOTENCY_METADATA_KEY) if isinstance(metadata, dict) else None
            if key:
                by_key[(merchant_id, prefix, str(key))].append(object_id)
    for (merchant_id, _prefix, key), ids in sorted(by_key.items()):
        if len(ids) > 1:
            report.add("duplicate_under_key", ids[0], f"{merchant_id} key {key!r} produced {len(ids)}: {sorted(ids)}")
    keys = IdempotencyKey.objects.filter(status=IdempotencyStatus.COMPLETED, response_status__lt=300, method="POST")
    for key_id, key, merchant_id, body in keys.values_list("id", "key", "merchant_id", "response_body").iterator(
        chunk_size=5000
    ):
        report.counts["idempotency_keys"] += 1
        created = _created_id(body)
        if created and created not in exists:
            report.add("key_response_object_missing", created, f"{merchant_id} key {key!r} (#{key_id}) answered it")


def _created_id(body: Any) -> str | None:
    object_id = body.get("id") if isinstance(body, dict) else None
    if isinstance(object_id, str) and object_id.startswith(tuple(_CREATED)):
        return object_id
    return None


def settlement_lines_check(report: AuditReport) -> None:
    """A reconciled file's line is matched (its settlement posting exists) or queued (a discrepancy names its
    provider reference); a line of a file never reconciled is neither."""
    posted = set(
        JournalTransaction.objects.filter(source_type="settlement").values_list("reference", flat=True).iterator()
    )
    queued = set(Discrepancy.objects.values_list("connector", "provider_reference"))
    lines = SettlementLine.objects.values_list(
        "id", "connector", "type", "provider_reference", "gross", "fee", "file__status", "file_id"
    )
    for line_id, connector, kind, reference, gross, fee, file_status, file_id in lines.iterator(chunk_size=5000):
        report.counts["settlement_lines"] += 1
        if (connector, reference) in queued or file_status == SettlementFileStatus.SUPERSEDED:
            continue  # a superseded file's lines are replaced by its correction's (docs/reconciliation.md)
        own = f"settlement:{connector}:{kind}:{reference}"
        if file_status != SettlementFileStatus.RECONCILED:
            report.add("settlement_line_unreconciled", f"line {line_id}", f"{connector} {kind} {reference}")
        elif (gross or fee) and own not in posted and f"{own}:f{file_id}" not in posted:
            report.add("settlement_line_unmatched", f"line {line_id}", f"{connector} {kind} {reference}: no posting")
