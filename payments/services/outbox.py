"""Writing to the transactional outbox. Callers must already be inside the atomic block of the state change."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from django.db import transaction

from core.db import insert_together, new_row
from core.tracing import trace_context_current
from payments.enums import OutboxKind
from payments.models import OutboxMessage


def _require_atomic() -> None:
    # An outbox row committed apart from its state change is exactly the inconsistency the outbox exists to stop.
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox rows must be written inside the transaction of the state change that causes them")


def outbox_event_build(
    *,
    merchant_id: str,
    livemode: bool,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    payload: dict[str, Any],
) -> OutboxMessage:
    """An unsaved event row: for a caller that inserts several outbox rows together (``outbox_messages_add``)."""
    return new_row(
        OutboxMessage,
        merchant_id=merchant_id,
        livemode=livemode,
        kind=OutboxKind.EVENT,
        topic=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        payload=payload,
        trace_context=trace_context_current(),
    )


def outbox_messages_add(messages: list[OutboxMessage]) -> list[OutboxMessage]:
    """Inserts rows built by ``outbox_*_build`` in one statement, in list order (their ids follow it)."""
    _require_atomic()
    insert_together(messages)
    return messages


def outbox_event_add(
    *,
    merchant_id: str,
    livemode: bool,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    payload: dict[str, Any],
) -> OutboxMessage:
    """Records a merchant-visible event (``payment.succeeded`` …) with the object's snapshot as ``payload``."""
    _require_atomic()
    message = outbox_event_build(
        merchant_id=merchant_id,
        livemode=livemode,
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        payload=payload,
    )
    message.save(force_insert=True)
    return message


def outbox_command_add(
    *,
    task_name: str,
    kwargs: dict[str, Any],
    queue: str = "",
    merchant_id: str | None = None,
    livemode: bool = False,
    aggregate_type: str = "",
    aggregate_id: str = "",
    not_before: datetime | None = None,
) -> OutboxMessage:
    """Records an internal follow-up: the relay sends Celery task ``task_name`` with ``kwargs`` after commit."""
    _require_atomic()
    message = outbox_command_build(
        task_name=task_name,
        kwargs=kwargs,
        queue=queue,
        merchant_id=merchant_id,
        livemode=livemode,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        not_before=not_before,
    )
    message.save(force_insert=True)
    return message


def outbox_command_build(
    *,
    task_name: str,
    kwargs: dict[str, Any],
    queue: str = "",
    merchant_id: str | None = None,
    livemode: bool = False,
    aggregate_type: str = "",
    aggregate_id: str = "",
    not_before: datetime | None = None,
) -> OutboxMessage:
    """An unsaved command row: for a caller that inserts several outbox rows together (``outbox_messages_add``)."""
    message = new_row(
        OutboxMessage,
        merchant_id=merchant_id,
        livemode=livemode,
        kind=OutboxKind.COMMAND,
        topic=task_name,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        payload=kwargs,
        queue=queue,
        trace_context=trace_context_current(),
    )
    if not_before is not None:
        message.available_at = not_before
    return message


class _MerchantObject(Protocol):
    id: str
    merchant_id: str
    livemode: bool


def outbox_object_event_add(
    *, obj: _MerchantObject, event_type: str, aggregate_type: str, payload: dict[str, Any]
) -> OutboxMessage:
    """``outbox_event_add`` for a merchant's object (refund, payout, dispute …): its snapshot as the payload."""
    return outbox_event_add(
        merchant_id=obj.merchant_id,
        livemode=obj.livemode,
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=obj.id,
        payload=payload,
    )
