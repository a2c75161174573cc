"""Every transition of the payment state machine from every status: the legal ones land where the contract says,
the others are refused by django-fsm (the services turn that refusal into a 400)."""

from __future__ import annotations

from typing import Any

import pytest
from django_fsm import TransitionNotAllowed

from payments.enums import PaymentStatus as S
from payments.models import Payment

# transition -> (keyword arguments, statuses it may start from, status it ends in)
TRANSITIONS: dict[str, tuple[dict[str, Any], set[str], str]] = {
    "confirm": ({}, {S.REQUIRES_CONFIRMATION}, S.PROCESSING),
    "mark_requires_action": ({"next_action": {"type": "upi_uri"}}, {S.PROCESSING}, S.REQUIRES_ACTION),
    "mark_requires_capture": ({}, {S.PROCESSING, S.REQUIRES_ACTION}, S.REQUIRES_CAPTURE),
    "mark_succeeded": ({}, {S.PROCESSING, S.REQUIRES_ACTION}, S.SUCCEEDED),
    "capture": ({"amount": 1500}, {S.REQUIRES_CAPTURE}, S.SUCCEEDED),
    "mark_failed": ({"code": "card_declined", "message": "Declined"}, {S.PROCESSING, S.REQUIRES_ACTION}, S.FAILED),
    "expire": ({}, {S.REQUIRES_ACTION}, S.FAILED),
    "cancel": ({}, {S.REQUIRES_CONFIRMATION, S.REQUIRES_ACTION, S.REQUIRES_CAPTURE}, S.CANCELED),
}
CASES = [(name, status) for name in TRANSITIONS for status in S.values]


@pytest.mark.parametrize(("transition", "status"), CASES)
def test_each_transition_from_each_status(transition: str, status: str) -> None:
    kwargs, sources, target = TRANSITIONS[transition]
    payment = Payment(amount=2000, currency="usd", status=status)
    if status in sources:
        getattr(payment, transition)(**kwargs)
        assert payment.status == target
    else:
        with pytest.raises(TransitionNotAllowed):
            getattr(payment, transition)(**kwargs)
        assert payment.status == status


def test_terminal_statuses_have_no_way_out() -> None:
    for status in (S.SUCCEEDED, S.FAILED, S.CANCELED):
        assert not [name for name, (_, sources, _) in TRANSITIONS.items() if status in sources]


def test_status_cannot_be_assigned_directly() -> None:
    payment = Payment(amount=2000, currency="usd")
    with pytest.raises(AttributeError, match="modification is not allowed"):
        payment.status = S.SUCCEEDED


def test_automatic_success_captures_the_whole_amount_and_a_manual_capture_what_was_asked() -> None:
    automatic = Payment(amount=2000, currency="usd", status=S.PROCESSING)
    automatic.mark_succeeded()
    manual = Payment(amount=2000, currency="usd", status=S.REQUIRES_CAPTURE)
    manual.capture(amount=1500)
    assert (automatic.amount_captured, manual.amount_captured) == (2000, 1500)
