"""Every payment service from every status, over PostgreSQL: a legal call changes the status, appends one history
row and writes its events (and commands) to the outbox in the same transaction; an illegal one is a 400
``payment_unexpected_state`` that writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments.enums import OutboxKind
from payments.enums import PaymentStatus as S
from payments.exceptions import PaymentStateError
from payments.models import OutboxMessage, Payment, PaymentAttempt, PaymentStateChange
from payments.services import payments as services
from payments.services.merchants import merchant_create
from tests.payments.services.helpers import card

pytestmark = pytest.mark.django_db

Call = Callable[[Payment], Any]


def _scoped(fn: Callable[..., Any], **kwargs: Any) -> Call:
    return lambda p: fn(merchant=p.merchant, livemode=p.livemode, payment_id=p.id, **kwargs)


def _internal(fn: Callable[..., Any], **kwargs: Any) -> Call:
    return lambda p: fn(payment_id=p.id, **kwargs)


def _executor(fn: Callable[..., Any], **kwargs: Any) -> Call:
    """The executor's transitions take the payment it already holds locked (with its attempts)."""

    def call(p: Payment) -> Any:
        with transaction.atomic():
            locked = services.payment_lock_with_attempts(payment_id=p.id)
            return fn(payment=locked, attempt=None, **kwargs)

    return call


# service -> (call, statuses it may start from, status it ends in, events written, commands written)
SERVICES: dict[str, tuple[Call, set[str], str, list[str], int]] = {
    "payment_confirm": (
        _scoped(services.payment_confirm),
        {S.REQUIRES_CONFIRMATION},
        S.PROCESSING,
        ["payment.processing"],
        1,
    ),
    "payment_capture": (
        _scoped(services.payment_capture, amount_to_capture=1500),
        {S.REQUIRES_CAPTURE},
        S.SUCCEEDED,
        ["payment.captured", "payment.succeeded"],
        1,
    ),
    "payment_cancel": (
        _scoped(services.payment_cancel),
        {S.REQUIRES_CONFIRMATION, S.REQUIRES_ACTION, S.REQUIRES_CAPTURE},
        S.CANCELED,
        ["payment.canceled"],
        -1,  # a void command only when the provider holds something (not from requires_confirmation)
    ),
    "payment_mark_requires_action": (
        _executor(services.payment_mark_requires_action, next_action={"type": "upi_uri", "upi_uri": "upi://pay?x"}),
        {S.PROCESSING},
        S.REQUIRES_ACTION,
        ["payment.requires_action"],
        0,
    ),
    "payment_mark_requires_capture": (
        _executor(services.payment_mark_requires_capture),
        {S.PROCESSING, S.REQUIRES_ACTION},
        S.REQUIRES_CAPTURE,
        ["payment.requires_capture"],
        0,
    ),
    "payment_mark_succeeded": (
        _executor(services.payment_mark_succeeded),
        {S.PROCESSING, S.REQUIRES_ACTION},
        S.SUCCEEDED,
        ["payment.succeeded"],
        0,
    ),
    "payment_mark_failed": (
        _executor(services.payment_mark_failed, code="card_declined", message="Declined"),
        {S.PROCESSING, S.REQUIRES_ACTION},
        S.FAILED,
        ["payment.failed"],
        0,
    ),
    "payment_expire": (
        _internal(services.payment_expire),
        {S.REQUIRES_ACTION, S.REQUIRES_CAPTURE},
        # requires_action fails (payment_expired), requires_capture is canceled: checked below
        "",
        [],
        0,
    ),
}
CASES = [(name, status) for name in SERVICES for status in S.values]


def _payment_in(status: str) -> Payment:
    merchant, _ = merchant_create(name="Acme", email="ops@acme.test")
    payment = services.payment_create(
        merchant=merchant, livemode=False, amount=2000, currency="usd", payment_method=card()
    )
    past = timezone.now() - timedelta(seconds=1)
    # Tests may set up any status directly; the application cannot (the field is protected).
    Payment.objects.filter(pk=payment.pk).update(status=status, expires_at=past, capture_before=past)
    return Payment.objects.get(pk=payment.pk)


def _counts(payment: Payment) -> tuple[int, int, int]:
    return (
        PaymentStateChange.objects.filter(payment=payment).count(),
        OutboxMessage.objects.filter(aggregate_id=payment.id, kind=OutboxKind.EVENT).count(),
        OutboxMessage.objects.filter(aggregate_id=payment.id, kind=OutboxKind.COMMAND).count(),
    )


@pytest.mark.parametrize(("service", "status"), CASES)
def test_each_service_from_each_status(service: str, status: str) -> None:
    call, sources, target, events, commands = SERVICES[service]
    payment = _payment_in(status)
    history_before, events_before, commands_before = _counts(payment)

    if status not in sources:
        with pytest.raises(PaymentStateError) as refused:
            call(payment)
        assert refused.value.code == "payment_unexpected_state"
        assert refused.value.status_code == 400
        assert Payment.objects.get(pk=payment.pk).status == status
        assert _counts(payment) == (history_before, events_before, commands_before)
        return

    call(payment)
    payment.refresh_from_db()
    if service == "payment_expire":
        target = S.FAILED if status == S.REQUIRES_ACTION else S.CANCELED
        events = ["payment.failed"] if status == S.REQUIRES_ACTION else ["payment.canceled"]
        commands = 0 if status == S.REQUIRES_ACTION else 1
    if commands == -1:
        commands = 0 if status == S.REQUIRES_CONFIRMATION else 1
    assert payment.status == target

    change = PaymentStateChange.objects.filter(payment=payment).latest("id")
    assert (change.from_status, change.to_status) == (status, target)
    new_events = list(
        OutboxMessage.objects.filter(aggregate_id=payment.id, kind=OutboxKind.EVENT)
        .order_by("id")
        .values_list("topic", "payload")[events_before:]
    )
    assert [topic for topic, _ in new_events] == events
    for _, payload in new_events:
        assert payload["id"] == payment.id
        assert payload["status"] == target
    assert _counts(payment) == (history_before + 1, events_before + len(events), commands_before + commands)


def test_confirm_persists_an_attempt_with_its_provider_key_and_queues_the_executor() -> None:
    payment = _payment_in(S.REQUIRES_CONFIRMATION)
    services.payment_confirm(merchant=payment.merchant, livemode=False, payment_id=payment.id)

    attempt = PaymentAttempt.objects.get(payment=payment)
    assert attempt.outcome == "pending"
    assert attempt.idempotency_key.startswith("llatt_")
    command = OutboxMessage.objects.get(aggregate_id=payment.id, kind=OutboxKind.COMMAND)
    assert command.topic == "payments.execute_attempt"
    assert command.payload == {"attempt_id": attempt.id}


def test_a_transition_on_a_locked_payment_never_loads_or_locks_a_row_again() -> None:
    payment = _payment_in(S.REQUIRES_CONFIRMATION)
    services.payment_confirm(merchant=payment.merchant, livemode=False, payment_id=payment.id)
    attempt = PaymentAttempt.objects.get(payment=payment)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(connector="card_b")

    with transaction.atomic():
        locked = services.payment_lock_with_attempts(attempt_id=attempt.id)
        (held,) = locked.known_attempts
        with CaptureQueriesContext(connection) as queries:
            services.payment_mark_failed(payment=locked, attempt=held, code="card_declined", message="Declined")

    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert "SELECT" not in statements  # the payment, its attempts and the event payload come from what is held
    assert statements.count("UPDATE") == 1  # the payment, saved once
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code, payment.psp) == (S.FAILED, "card_declined", "card_b")
    assert PaymentStateChange.objects.filter(payment=payment).latest("id").attempt_id == attempt.id


def test_a_upi_payment_waiting_for_the_payer_expires_by_the_database_clock() -> None:
    merchant, _ = merchant_create(name="Acme", email="ops@acme.test")
    payment = services.payment_create(
        merchant=merchant,
        livemode=False,
        amount=49900,
        currency="inr",
        payment_method=services.UpiPaymentMethod(expires_in=300),
        confirm=True,
    )
    _executor(services.payment_mark_requires_action, next_action={"type": "upi_uri"})(payment)
    payment.refresh_from_db()
    assert payment.expires_at is not None
    assert timedelta(seconds=290) < payment.expires_at - timezone.now() <= timedelta(seconds=300)
    with pytest.raises(PaymentStateError):
        services.payment_expire(payment_id=payment.id)  # not yet

    Payment.objects.filter(pk=payment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.payment_ids_overdue() == [payment.id]
    services.payment_expire(payment_id=payment.id)
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == (S.FAILED, "payment_expired")


def test_partial_capture_is_recorded_and_more_than_authorized_is_refused() -> None:
    payment = _payment_in(S.REQUIRES_CAPTURE)
    with pytest.raises(Exception, match="amount_to_capture") as too_much:
        services.payment_capture(
            merchant=payment.merchant, livemode=False, payment_id=payment.id, amount_to_capture=2001
        )
    assert getattr(too_much.value, "code", None) == "amount_too_large"
    services.payment_capture(merchant=payment.merchant, livemode=False, payment_id=payment.id, amount_to_capture=700)
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == (S.SUCCEEDED, 700)
