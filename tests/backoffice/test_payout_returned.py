"""Marking a payout returned in the back office: one message per payout, saying what happened."""

from __future__ import annotations

from django.contrib.messages import get_messages

from payments.models import Payout
from tests.payments.conftest import make_api


def test_marking_an_already_failed_payout_returned_shows_only_the_refusal(finance):
    merchant = make_api(name="Payee").merchant
    payout = Payout.objects.create(merchant=merchant, livemode=False, amount=500, currency="usd")
    Payout.objects.filter(pk=payout.pk).update(status="failed", failure_code="returned_by_bank")
    response = finance.post(
        "/admin/payments/payout/",
        {"action": "mark_returned", "_selected_action": [payout.pk], "confirm": "yes"},
        follow=True,
    )
    shown = [str(m) for m in get_messages(response.wsgi_request)] or [
        line for line in response.content.decode().splitlines() if payout.pk in line and "failed" in line
    ]
    text = " ".join(shown)
    assert "You cannot fail a payout that is failed" in text
    assert "marked failed" not in text
