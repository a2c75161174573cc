"""Support's refund limit is a running total per payment, held under the payment's row lock; money actions are
confirmed in both units first; a disputed payment is not refunded from the back office."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import override_settings

from backoffice import services
from backoffice.models import AuditLogEntry
from payments.models import Payment, Refund
from tests.backoffice.test_payment_page import page, refund, token
from tests.payments.refunds.helpers import captured_payment, concurrently
from tests.payments.refunds.test_disputes import chargeback
from tests.psp_sandbox import receiving


def refunded_by_support(payment_id: str) -> int:
    return sum(Refund.objects.filter(payment_id=payment_id).values_list("amount", flat=True))


@override_settings(BACKOFFICE_SUPPORT_REFUND_LIMIT=500)
def test_three_refunds_by_one_agent_cannot_add_up_past_the_support_limit(api, sandbox, support, superuser):
    payment_id = captured_payment(api, 2000)
    assert "Refund re_" in refund(support, payment_id, amount="2.00").content.decode()
    assert "Refund re_" in refund(support, payment_id, amount="2.00").content.decode()
    third = refund(support, payment_id, amount="2.00").content.decode()
    assert "Support may refund at most $5.00 of one payment in total" in third
    assert "$4.00 of this one was already refunded in the back office" in third
    assert refunded_by_support(payment_id) == 400
    assert "Refund re_" in refund(support, payment_id, amount="1.00").content.decode()  # exactly up to the limit
    assert AuditLogEntry.objects.filter(username="sam", outcome__startswith="refused").count() == 1
    # Above the limit is for someone with a higher one; their refund uses up the same allowance.
    assert "Refund re_" in refund(superuser, payment_id, amount="10.00").content.decode()
    assert "Support may refund at most" in refund(support, payment_id, amount="0.01").content.decode()
    assert Payment.objects.get(pk=payment_id).amount_refunded == 1500


@override_settings(BACKOFFICE_SUPPORT_REFUND_LIMIT=500)
def test_the_page_says_how_much_of_the_limit_is_left(api, sandbox, support):
    payment_id = captured_payment(api, 2000)
    refund(support, payment_id, amount="3.00")
    html = page(support, payment_id)
    assert "Support limit: $5.00 of one payment in total" in html
    assert "$2.00 left for this payment" in html


@pytest.mark.parametrize("agents", [5])
@override_settings(BACKOFFICE_SUPPORT_REFUND_LIMIT=500)
def test_concurrent_refunds_by_support_agents_never_exceed_the_limit(api, sandbox, groups, agents):
    """Five agents, each on its own database connection, refund 2.00 of one 20.00 payment at the same instant:
    the limit (5.00) lets exactly two through, whatever the interleaving."""
    payment_id = captured_payment(api, 2000)
    users = get_user_model().objects
    support = Group.objects.get(name="Support")
    names = [f"agent{i}" for i in range(agents)]
    for name in names:
        users.create_user(name, f"{name}@x.test", "pw", is_staff=True).groups.add(support)

    def one(index: int) -> int:
        user = users.get(username=names[index])
        payment = Payment.objects.select_related("merchant").get(pk=payment_id)
        try:
            services.backoffice_refund(
                user=user, payment=payment, amount=200, reason="", note="concurrent", form_token=None
            )
        except services.BackofficeActionError:
            return 0
        return 1

    counter = iter(range(agents))
    results = concurrently(agents, lambda: one(next(counter)))
    assert sum(results) == 2
    assert refunded_by_support(payment_id) == 400
    assert Payment.objects.get(pk=payment_id).amount_refunded == 400
    assert AuditLogEntry.objects.filter(outcome__startswith="refused").count() == agents - 2


def test_a_refund_is_confirmed_in_both_units_before_anything_happens(api, sandbox, support):
    payment_id = captured_payment(api, 2000)
    html = page(support, payment_id)
    response = support.post(
        f"/admin/payments/payment/{payment_id.replace('_', '_5F')}/refund/",
        {"amount": "12.50", "reason": "duplicate", "note": "twice", "form_token": token(html)},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "$12.50 (1250 minor units of USD)" in body
    assert "$7.50" in body  # refundable after
    assert 'name="confirm" value="yes"' in body
    assert not Refund.objects.exists()
    typo = support.post(
        f"/admin/payments/payment/{payment_id.replace('_', '_5F')}/refund/",
        {"amount": "12.505", "note": "x", "form_token": token(html)},
        follow=True,
    )
    assert "USD has 2 decimal places" in typo.content.decode()


def test_a_disputed_payment_offers_no_refund_and_a_posted_one_is_refused(api, sandbox, support):
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook)
    html = page(support, dispute.payment_id)
    assert 'id="refund-form"' not in html
    assert 'id="refund-unavailable"' in html
    response = refund(support, dispute.payment_id, amount="1.00", form_token="stale-page")
    assert "the provider refuses refunds of a disputed payment" in response.content.decode()
    assert not Refund.objects.exists()
