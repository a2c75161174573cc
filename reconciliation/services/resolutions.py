"""Resolving the exception queue: only by an explicit, audited action, with a correcting ledger transaction.

Nothing is edited away. Resolving posts what the money really did: the settlement line itself when there is one
(the bank did receive it), then a ``manual_adjustment`` between the provider receivable and suspense for whatever
the settlement and our records disagree on, per currency, so the receivable ends where reality is.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from ledger import accounts, recipes, references
from ledger.money import Money
from ledger.posting import post_many
from reconciliation.enums import DiscrepancyKind, DiscrepancyStatus, Resolution
from reconciliation.exceptions import ResolutionError, ResolutionForbiddenError
from reconciliation.models import Discrepancy, DiscrepancyResolution, SettlementLine
from reconciliation.services.corrections import line_settlement_id

K = DiscrepancyKind
RESOLVE_PERMISSION = "reconciliation.resolve_discrepancy"
MANUAL_ACTIONS = (Resolution.MATCHED_MANUALLY, Resolution.WRITTEN_OFF, Resolution.REFUNDED, Resolution.FULFILLED)


def _line(discrepancy: Discrepancy) -> SettlementLine | None:
    if discrepancy.line_number is None or discrepancy.kind == K.INVALID_LINE:  # an invalid line was never staged
        return None
    return SettlementLine.objects.get(file_id=discrepancy.file_id, line_number=discrepancy.line_number)


def _recorded(discrepancy: Discrepancy, line: SettlementLine | None) -> tuple[int, str]:
    """What our ledger holds in the receivable for the fact, signed as a settlement line, and its currency.

    Read from the ledger when resolving, whatever the class: a capture is there for a ``timing`` and equally for a
    ``late_success`` whose capture was recorded. A duplicate line holds nothing of ours (its first copy settled it).
    """
    if discrepancy.kind == K.DUPLICATE:
        return 0, ""
    if line is None and discrepancy.our_currency:  # a refund or chargeback never settled: its amount is recorded
        return discrepancy.our_amount or 0, discrepancy.our_currency
    if line is None or line.type == "charge":
        capture = references.capture_get(payment_id=discrepancy.payment_id) if discrepancy.payment_id else None
        if capture is None:
            return 0, ""
        return int(capture.metadata["gross"]), capture.entries.values_list("currency", flat=True)[0]
    return discrepancy.our_amount or 0, discrepancy.our_currency or discrepancy.currency


def _post_line(discrepancy: Discrepancy, line: SettlementLine) -> str:
    settlement_id = line_settlement_id(line)
    if discrepancy.kind == K.DUPLICATE:
        settlement_id += f":{line.file_id}:{line.line_number}"
    posting = recipes.psp_settlement_posting(
        connector=line.connector,
        settlement_id=settlement_id,
        gross=Money(line.gross, line.currency),
        fee=Money(line.fee, line.currency),
        occurred_at=line.transaction_date,
        provider_reference=line.provider_reference,
        our_reference=line.our_reference,
    )
    post_many([posting])  # a batch of one: posts it, or finds it posted with the same entries
    return posting.reference


def adjustment_id(discrepancy_id: int, currency: str) -> str:
    return f"discrepancy:{discrepancy_id}:{currency}"


def _adjust(discrepancy: Discrepancy, line: SettlementLine | None, *, actor: str, reason: str) -> list[str]:
    """Receivable ↔ suspense for the difference between what was settled and what our ledger expected."""
    owed: dict[str, int] = defaultdict(int)  # per currency: how much more the receivable must be debited
    if line is not None:
        owed[line.currency] += line.gross
    recorded, currency = _recorded(discrepancy, line)
    if recorded:
        owed[currency] -= recorded
    references = []
    for currency, amount in sorted(owed.items()):
        if not amount:
            continue
        receivable, suspense = accounts.psp_receivable(discrepancy.connector, currency), accounts.suspense(currency)
        debit_account, credit_account = (receivable, suspense) if amount > 0 else (suspense, receivable)
        references.append(
            recipes.manual_adjustment(
                adjustment_id=adjustment_id(discrepancy.pk, currency),
                debit_account=debit_account,
                credit_account=credit_account,
                amount=Money(abs(amount), currency),
                reason=f"{discrepancy.kind} {discrepancy.key}: {reason}",
                actor=actor,
                occurred_at=timezone.now(),
            ).reference
        )
    return references


def discrepancy_resolve(*, discrepancy_id: int, action: str, user: AbstractUser, reason: str) -> Discrepancy:
    """Resolve one open discrepancy by ``action``, audited with ``user`` and ``reason``.

    Only a user holding ``reconciliation.resolve_discrepancy`` may (``ResolutionForbiddenError`` otherwise): it is
    checked here, so every path (admin action, command, anything later) is held to it.

    Every action posts the line as settled (the bank did receive it) and balances the receivable against suspense
    for what our records lacked or disagreed on; the actions differ in what the person found, which the audit
    keeps: ``matched_manually`` (the counterpart exists elsewhere), ``written_off`` (it does not), and for late
    successes only ``refunded``/``fulfilled`` (the money is held in suspense until that flow moves it on).
    """
    if not user.is_active or not user.has_perm(RESOLVE_PERMISSION):
        raise ResolutionForbiddenError(f"{user.get_username() or 'anonymous'} may not resolve discrepancies")
    actor = user.get_username()
    if action not in MANUAL_ACTIONS:
        raise ResolutionError(f"{action!r} is not a resolution a person can choose")
    if not reason.strip() or not actor:
        raise ResolutionError("a resolution needs a reason and an actor")
    with transaction.atomic():
        discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy_id)
        if discrepancy.status != DiscrepancyStatus.OPEN:
            raise ResolutionError(f"discrepancy {discrepancy_id} is already {discrepancy.resolution}")
        if action in (Resolution.REFUNDED, Resolution.FULFILLED) and discrepancy.kind != K.LATE_SUCCESS:
            raise ResolutionError(f"only a late success can be marked {action}, not a {discrepancy.kind}")
        line = _line(discrepancy)
        references = [_post_line(discrepancy, line)] if line is not None and (line.gross or line.fee) else []
        references += _adjust(discrepancy, line, actor=actor, reason=reason)
        discrepancy.status = DiscrepancyStatus.RESOLVED
        discrepancy.resolution = action
        discrepancy.save(update_fields=["status", "resolution"])
        DiscrepancyResolution.objects.create(
            discrepancy=discrepancy,
            action=action,
            actor=actor,
            reason=reason.strip()[:500],
            journal_reference=", ".join(references)[:255],
        )
    return discrepancy


def written_off_arrivals_undo(*, connector: str, fact_keys: Any, where: str) -> int:
    """Facts a person resolved as never settled (``timing``/``missing_at_provider`` written off or matched by hand)
    whose line has now arrived: the resolution's adjustment is reversed, so the arriving line, posted or queued like
    any other, is not counted on top of it. Audited on the discrepancy (``auto_cleared``)."""
    undone = 0
    for discrepancy in Discrepancy.objects.filter(
        connector=connector,
        kind__in=(K.TIMING, K.MISSING_AT_PROVIDER),
        status=DiscrepancyStatus.RESOLVED,
        resolution__in=(Resolution.WRITTEN_OFF, Resolution.MATCHED_MANUALLY),
        key__in=fact_keys,
    ):
        reversed_references = [
            recipes.manual_adjustment_reversed(
                adjustment_id=posted.source_id, occurred_at=timezone.now(), reason=f"its line arrived in {where}"
            ).reference
            for posted in references.adjustments_live(f"discrepancy:{discrepancy.pk}:")
        ]
        Discrepancy.objects.filter(pk=discrepancy.pk).update(resolution=Resolution.AUTO_CLEARED)
        DiscrepancyResolution.objects.create(
            discrepancy=discrepancy,
            action=Resolution.AUTO_CLEARED,
            actor="reconciliation",
            reason=f"its line arrived in {where}: the {discrepancy.resolution} is undone",
            journal_reference=", ".join(reversed_references)[:255],
        )
        undone += 1
    return undone
