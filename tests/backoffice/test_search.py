"""The one search box: any object by any of its ids or references, opened when one matches, and only what the
person may view."""

from __future__ import annotations

from django.contrib.admin.utils import quote

from payments.models import Dispute, Payment, Refund
from tests.backoffice.test_payment_page import refund
from tests.payments.execution.conftest import drain
from tests.payments.execution.test_upi_and_webhooks import create_upi, forward
from tests.payments.refunds.helpers import captured_payment, release_due
from tests.payments.refunds.test_disputes import chargeback
from tests.psp_sandbox import receiving


def find(client, query: str):
    return client.get("/admin/find/", {"q": query})


def opens(client, query: str) -> str:
    response = find(client, query)
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def page_of(kind: str, object_id: str) -> str:
    return f"/admin/payments/{kind}/{quote(object_id)}/change/"


def test_our_ids_open_their_object_whatever_their_case(api, sandbox, support):
    payment_id = captured_payment(api, 2000, customer_email="Maria.Gonzalez@Example.com")
    refund(support, payment_id, amount="5.00")
    refund_id = Refund.objects.get().id
    attempt_id = Payment.objects.get(pk=payment_id).attempts.filter(operation="authorize").get().id
    assert opens(support, payment_id) == page_of("payment", payment_id)
    assert opens(support, f"  {payment_id.lower()} ") == page_of("payment", payment_id)
    assert opens(support, refund_id) == page_of("refund", refund_id)
    assert "$5.00" in support.get(page_of("refund", refund_id)).content.decode()  # its amount in dollars
    assert opens(support, attempt_id) == page_of("paymentattempt", attempt_id)
    assert opens(support, api.merchant.id) == page_of("merchant", api.merchant.id)


def test_provider_references_last4_email_and_merchant_name_find_payments(api, sandbox, support):
    first = captured_payment(api, 2000, customer_email="maria.gonzalez@example.com")
    second = captured_payment(api, 3000, customer_email="sam@example.org")
    refund(support, first, amount="5.00")
    drain()
    charge = Payment.objects.get(pk=first).attempts.get(operation="authorize").provider_reference
    provider_refund = Refund.objects.get().attempt.provider_reference
    assert opens(support, charge) == page_of("payment", first)
    assert opens(support, provider_refund) == page_of("refund", Refund.objects.get().id)
    assert opens(support, "MARIA.gonzalez@example.com") == page_of("payment", first)

    listed = find(support, "4242").content.decode()  # both payments were made with the same test card
    assert first in listed
    assert second in listed
    assert "card last 4" in listed

    by_name = find(support, api.merchant.name.lower()[:3])
    assert by_name.status_code == 302
    assert by_name["Location"] == page_of("merchant", api.merchant.id)


def test_a_rrn_and_a_provider_dispute_reference_open_their_objects(api, sandbox, support):
    payment_id = create_upi(api)
    drain()
    attempt = Payment.objects.get(pk=payment_id).attempts.get()
    with receiving(sandbox) as hook:
        sandbox.http.post(f"/upi/v1/transactions/{attempt.provider_reference}/approve", json={})
        delivery = hook.wait_for(lambda ds: any(d["event"]["type"] == "upi_transaction.succeeded" for d in ds))[-1]
        assert forward(delivery) == 200
        drain()
        dispute = chargeback(api, sandbox, hook)
    rrn = Payment.objects.get(pk=payment_id).upi_rrn
    assert rrn.isdigit()
    assert opens(support, rrn) == page_of("payment", payment_id)
    assert opens(support, dispute.provider_reference) == page_of("dispute", dispute.id)
    assert opens(support, dispute.id) == page_of("dispute", Dispute.objects.get().id)


def test_nothing_found_says_what_can_be_searched_and_objects_one_may_not_view_stay_hidden(
    api, sandbox, support, finance
):
    captured_payment(api, 2000)
    response = find(support, "no such thing")
    assert response.status_code == 200
    assert "Nothing you may view matches" in response.content.decode()
    release_due()
    payout_id = api.post("/v1/payouts", {"amount": 100, "currency": "usd"}).json()["id"]
    hidden = find(support, payout_id)
    assert hidden.status_code == 200
    assert "Nothing you may view matches" in hidden.content.decode()
    assert opens(finance, payout_id) == page_of("payout", payout_id)
