"""The journal's reference formats, and the reads that depend on them.

Every money flow posts under a deterministic reference (``ledger/recipes.py``). Code outside the ledger never builds,
splits or pattern-matches a reference string: it asks here — for a payment's capture, for the captures due for
release, for the flow a transaction belongs to — so the format can change in one place.
"""

from __future__ import annotations

import enum

from django.db.models import Exists, OuterRef, QuerySet, Value
from django.db.models.expressions import Combinable
from django.db.models.functions import Concat

from ledger.models import JournalTransaction


class Flow(enum.StrEnum):
    """Which money flow a journal transaction records."""

    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"
    REFUND_FAILED = "refund_failed"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_WON = "dispute_won"
    PAYOUT = "payout"
    PAYOUT_FAILED = "payout_failed"
    WRITE_OFF = "write_off"
    SETTLEMENT = "settlement"
    ADJUSTMENT = "adjustment"
    OTHER = "other"


# --- the formats -------------------------------------------------------------------------------------------------
def payment_capture(payment_id: str) -> str:
    return f"payment:{payment_id}:capture"


def payment_release(payment_id: str) -> str:
    return f"payment:{payment_id}:release"


def refund(refund_id: str) -> str:
    return f"refund:{refund_id}"


def refund_failed(refund_id: str) -> str:
    return f"refund:{refund_id}:failed"


def dispute_opened(dispute_id: str) -> str:
    return f"dispute:{dispute_id}:opened"


def dispute_won(dispute_id: str) -> str:
    return f"dispute:{dispute_id}:won"


def payout(payout_id: str) -> str:
    return f"payout:{payout_id}"


def payout_failed(payout_id: str) -> str:
    return f"payout:{payout_id}:failed"


def write_off(write_off_id: str) -> str:
    return f"write_off:{write_off_id}"


def settlement(connector: str, settlement_id: str) -> str:
    return f"settlement:{connector}:{settlement_id}"


def settlement_superseded(connector: str, settlement_id: str) -> str:
    return f"{settlement(connector, settlement_id)}:superseded"


def settlement_live(connector: str, settlement_ids: list[str]) -> QuerySet[JournalTransaction]:
    """The settlement postings among ``settlement_ids`` of one connector that no correction has reversed."""
    return JournalTransaction.objects.filter(
        reference__in=[settlement(connector, settlement_id) for settlement_id in settlement_ids],
        reversed_by__isnull=True,
    )


def adjustment(adjustment_id: str) -> str:
    return f"adjustment:{adjustment_id}"


def adjustments_live(adjustment_id_prefix: str) -> QuerySet[JournalTransaction]:
    """The adjustments whose id starts with ``adjustment_id_prefix`` that no reversal has undone."""
    return JournalTransaction.objects.filter(
        reference__startswith=adjustment(adjustment_id_prefix), source_type="adjustment", reversed_by__isnull=True
    ).exclude(reverses__isnull=False)


_FLOWS = {
    ("payment", "capture"): Flow.CAPTURE,
    ("payment", "release"): Flow.RELEASE,
    ("refund", ""): Flow.REFUND,
    ("refund", "failed"): Flow.REFUND_FAILED,
    ("dispute", "opened"): Flow.DISPUTE_OPENED,
    ("dispute", "won"): Flow.DISPUTE_WON,
    ("payout", ""): Flow.PAYOUT,
    ("payout", "failed"): Flow.PAYOUT_FAILED,
    ("write_off", ""): Flow.WRITE_OFF,
    ("adjustment", ""): Flow.ADJUSTMENT,
}


def reference_flow(reference: str) -> Flow:
    """The flow a reference was posted for (the reverse of the formats above)."""
    kind, _, rest = reference.partition(":")
    if kind == "settlement":
        return Flow.SETTLEMENT
    _, _, suffix = rest.partition(":")
    return _FLOWS.get((kind, suffix), Flow.OTHER)


# --- the reads ---------------------------------------------------------------------------------------------------
def capture_get(*, payment_id: str) -> JournalTransaction | None:
    return JournalTransaction.objects.filter(reference=payment_capture(payment_id)).first()


def captures() -> QuerySet[JournalTransaction]:
    """Every payment capture (what a provider owes us for a payment); ``source_id`` is the payment's id."""
    return JournalTransaction.objects.filter(source_type="payment", reference__endswith=":capture")


def without_releases() -> QuerySet[JournalTransaction]:
    """Every transaction except the pending-to-available transfers."""
    return JournalTransaction.objects.exclude(reference__endswith=":release")


def released(payment_id: str | Combinable | OuterRef) -> Exists:
    """Whether the payment's funds were released; ``payment_id`` may be an ``OuterRef`` in a subquery."""
    if isinstance(payment_id, str):
        return Exists(JournalTransaction.objects.filter(reference=payment_release(payment_id)))
    return Exists(JournalTransaction.objects.filter(reference=Concat(Value("payment:"), payment_id, Value(":release"))))


def capture_of(payment_id: Combinable | OuterRef) -> QuerySet[JournalTransaction]:
    """The capture transaction of the payment ``payment_id`` names: an ``OuterRef`` in a subquery (reports join a
    payment to its ledger fee this way, one query for all rows)."""
    return JournalTransaction.objects.filter(reference=Concat(Value("payment:"), payment_id, Value(":capture")))
