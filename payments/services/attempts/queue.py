"""Which connector and queue an attempt runs on, and the outbox command that sends it there.

Shared by the payment services (which start attempts) and the executor (which starts follow-up attempts), so
every attempt lands on its provider's queue: the bulkhead that keeps one slow provider from starving another.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Model

from core.db import new_row
from payments.connectors import registry
from payments.enums import AttemptOperation, PaymentMethodType
from payments.models import OutboxMessage, Payment, PaymentAttempt, Refund
from payments.services.outbox import outbox_command_build, outbox_messages_add

EXECUTE_ATTEMPT_TASK = "payments.execute_attempt"
CHECK_ATTEMPT_TASK = "payments.check_attempt"


def attempt_connector_default(payment: Payment, operation: str) -> str:
    """Capture, void and refund go where the money is; a new authorization goes to the route's first connector."""
    if operation != AttemptOperation.AUTHORIZE and payment.psp:
        return payment.psp
    route = registry.route_for(payment.payment_method_type)
    if payment.payment_method_type == PaymentMethodType.CARD:
        route = [name for name in route if card_chargeable_at(payment, name)] or route
    return route[0] if route else ""


def card_chargeable_at(payment: Payment, connector: str) -> bool:
    """A card can be charged where it has a token, or anywhere while its number is in the vault to tokenize."""
    method = payment.payment_method if payment.payment_method_id else None
    if method is None:
        return False
    return method.vault_entry_id is not None or bool(method.provider_tokens.get(connector))


def attempt_start(
    *,
    payment: Payment,
    operation: str,
    amount: int,
    connector: str | None = None,
    refund: Refund | None = None,
    not_before: datetime | None = None,
    outbox: list[OutboxMessage] | None = None,
    rows: list[Model] | None = None,
) -> PaymentAttempt:
    """A new attempt (its own idempotency key and reference), queued on its connector; added to the attempts the
    caller holds (``payment.known_attempts``) when it holds them. With ``outbox``, its command is appended there
    for the caller to insert with its other outbox rows (``outbox_messages_add``), in the same transaction. With
    ``rows``, the attempt itself is appended there unsaved, for the caller to insert with its other rows
    (``core.db.insert_together``)."""
    attempt = new_row(
        PaymentAttempt,
        payment=payment,
        merchant_id=payment.merchant_id,
        livemode=payment.livemode,
        operation=operation,
        amount=amount,
        connector=connector if connector is not None else attempt_connector_default(payment, operation),
        refund=refund,
    )
    if rows is None:
        attempt.save(force_insert=True)
    else:
        rows.append(attempt)
    if payment.known_attempts is not None:
        payment.known_attempts.append(attempt)
    if outbox is not None:
        outbox.append(_attempt_command(attempt, not_before=not_before))
    else:
        attempt_enqueue(attempt, not_before=not_before)  # on the connector's own queue (a bulkhead)
    return attempt


def attempt_enqueue(attempt: PaymentAttempt, *, not_before: datetime | None = None, task: str = "") -> None:
    """An outbox command to run (or check) the attempt on its connector's queue, committed with the caller."""
    outbox_messages_add([_attempt_command(attempt, not_before=not_before, task=task)])


def _attempt_command(attempt: PaymentAttempt, *, not_before: datetime | None = None, task: str = "") -> OutboxMessage:
    return outbox_command_build(
        task_name=task or EXECUTE_ATTEMPT_TASK,
        kwargs={"attempt_id": attempt.id},
        queue=registry.queue_for(attempt.connector) if attempt.connector else "",
        merchant_id=attempt.merchant_id,
        livemode=attempt.livemode,
        aggregate_type="payment",
        aggregate_id=attempt.payment_id,
        not_before=not_before,
    )
