"""Disputes end to end through the sandbox: opened by its chargeback webhook, answered, won or lost, with the
merchant's balances checked at each step."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ledger.balances import merchant_balances
from ledger.models import JournalTransaction
from ledger.verification import verify_ledger
from payments.enums import EventType
from payments.exceptions import InvalidRequestError
from payments.models import Dispute, OutboxMessage, Payment, Refund
from payments.services.disputes import evidence_file_add
from tests.payments.execution.conftest import drain
from tests.payments.execution.test_evidence import signed
from tests.payments.execution.test_upi_and_webhooks import forward
from tests.payments.refunds.helpers import captured_payment, release_due
from tests.psp_sandbox import receiving


def available(merchant_id: str) -> int:
    return sum(m.amount for m in merchant_balances(merchant_id).available)


def events(dispute_id: str) -> list[str]:
    return list(OutboxMessage.objects.filter(aggregate_id=dispute_id, kind="event").values_list("topic", flat=True))


def chargeback(api, sandbox, hook, amount: int = 1000, *, paid: int = 3000, released: bool = True) -> Dispute:
    """A payment of ``paid`` (3000: net 2883), released unless told otherwise, charged back for ``amount`` by the
    sandbox; its webhook applied."""
    payment_id = captured_payment(api, paid)
    if released:
        release_due()
    reference = Payment.objects.get(pk=payment_id).attempts.get().id
    opened = sandbox.control("/disputes", {"provider": "card_a", "reference": reference, "amount": amount})

    def created(delivery) -> bool:
        event = delivery["event"]
        return event["type"] == "dispute.created" and event["data"]["object"]["id"] == opened["id"]

    for delivery in hook.wait_for(lambda ds: any(created(d) for d in ds)):
        if created(delivery):
            assert forward(delivery) == 200
    drain()
    return Dispute.objects.get(payment_id=payment_id)


def resolve(sandbox, hook, dispute: Dispute, outcome: str) -> None:
    sandbox.control(f"/disputes/{dispute.provider_reference}/resolve", {"outcome": outcome})
    for delivery in hook.wait_for(lambda ds: any(d["event"]["type"] == f"dispute.{outcome}" for d in ds)):
        if delivery["event"]["type"] == f"dispute.{outcome}":
            assert forward(delivery) == 200
    drain()


def test_a_chargeback_opens_a_dispute_and_debits_amount_and_fee(api, sandbox):
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook, amount=1000)
    assert (dispute.status, dispute.amount, dispute.fee, dispute.reason) == ("needs_response", 1000, 1500, "fraudulent")
    assert dispute.evidence_due_by is not None
    assert Payment.objects.get(pk=dispute.payment_id).disputed
    assert available(api.merchant.id) == 2883 - 1000 - 1500
    assert events(dispute.id) == [EventType.DISPUTE_CREATED]
    body = api.get(f"/v1/disputes/{dispute.id}").json()
    assert (body["object"], body["status"], body["payment"]) == ("dispute", "needs_response", dispute.payment_id)
    assert [d["id"] for d in api.get("/v1/disputes").json()["data"]] == [dispute.id]


def test_evidence_submitted_once_then_won_gives_the_money_back(api, sandbox):
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook)
        staged = api.post(f"/v1/disputes/{dispute.id}", {"evidence": {"product_description": "A lamp"}})
        assert (staged.json()["status"], staged.json()["evidence"]) == (
            "needs_response",
            {"product_description": "A lamp"},
        )
        submitted = api.post(f"/v1/disputes/{dispute.id}", {"evidence": {"customer_name": "Ann"}, "submit": True})
        assert submitted.json()["status"] == "under_review"
        assert drain() == ["payments.dispute_respond:evidence_sent"]
        remote = sandbox.get("card_a", f"/disputes/{dispute.provider_reference}").json()
        assert remote["status"] == "under_review"
        assert remote["evidence"]["product_description"] == "A lamp"
        again = api.post(f"/v1/disputes/{dispute.id}", {"evidence": {"customer_name": "Bob"}, "submit": True})
        assert again.status_code == 400
        resolve(sandbox, hook, dispute, "won")
    dispute.refresh_from_db()
    assert dispute.status == "won"
    assert available(api.merchant.id) == 2883  # amount and fee reversed
    assert events(dispute.id) == [EventType.DISPUTE_CREATED, EventType.DISPUTE_CLOSED]


def test_a_lost_dispute_keeps_the_debit(api, sandbox):
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook)
        api.post(f"/v1/disputes/{dispute.id}", {"evidence": {"uncategorized_text": "…"}, "submit": True})
        drain()
        resolve(sandbox, hook, dispute, "lost")
    dispute.refresh_from_db()
    assert dispute.status == "lost"
    assert available(api.merchant.id) == 2883 - 2500
    assert events(dispute.id) == [EventType.DISPUTE_CREATED, EventType.DISPUTE_CLOSED]


def test_accepting_a_dispute_closes_it_at_once_and_tells_the_provider(api, sandbox):
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook)
        body = api.post(f"/v1/disputes/{dispute.id}/accept").json()
        assert body["status"] == "accepted"
        assert drain() == ["payments.dispute_respond:accept_sent"]
        remote = sandbox.get("card_a", f"/disputes/{dispute.provider_reference}").json()
        assert remote["status"] == "lost"
    assert api.post(f"/v1/disputes/{dispute.id}/accept").status_code == 400
    assert available(api.merchant.id) == 2883 - 2500
    assert events(dispute.id) == [EventType.DISPUTE_CREATED, EventType.DISPUTE_CLOSED]


def test_evidence_files_are_size_and_type_checked_and_referenced(api, sandbox, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook)
    pdf = evidence_file_add(
        dispute=dispute, upload=SimpleUploadedFile("r.pdf", b"%PDF-1.4 x", "application/pdf"), uploaded_by="t"
    )
    assert (tmp_path / pdf.file.name).exists()
    with pytest.raises(InvalidRequestError):  # says PDF, is not
        evidence_file_add(
            dispute=dispute, upload=SimpleUploadedFile("x.pdf", b"MZ..", "application/pdf"), uploaded_by="t"
        )
    settings.DISPUTE_EVIDENCE_MAX_BYTES = 4
    with pytest.raises(InvalidRequestError):
        evidence_file_add(
            dispute=dispute, upload=SimpleUploadedFile("big.pdf", b"%PDF-1", "application/pdf"), uploaded_by="t"
        )
    assert api.post(f"/v1/disputes/{dispute.id}", {"evidence": {"files": ["file_nope"]}}).status_code == 400
    body = api.post(f"/v1/disputes/{dispute.id}", {"evidence": {"files": [pdf.id]}}).json()
    assert body["evidence"]["files"] == [pdf.id]


def balances(merchant_id: str) -> tuple[int, int]:
    found = merchant_balances(merchant_id)
    return sum(m.amount for m in found.available), sum(m.amount for m in found.pending)


def test_a_chargeback_on_pending_funds_is_the_merchants_and_nothing_is_paid_out(api, sandbox):
    """Finding 2: a chargeback while the funds were pending used to land on a platform loss account, and the
    pending net was then released and paid out."""
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook, amount=10_000, paid=10_000, released=False)
        assert balances(api.merchant.id) == (-1_820, 0)  # 9,680 pending taken, 1,820 owed (amount + 1,500 fee)
        release_due()
        assert balances(api.merchant.id) == (-1_820, 0)  # nothing left to release
        assert api.post("/v1/payouts", {"amount": 1, "currency": "usd"}).status_code == 400
        resolve(sandbox, hook, dispute, "lost")
    assert balances(api.merchant.id) == (-1_820, 0)  # still owed by the merchant, never the platform's loss
    assert not JournalTransaction.objects.filter(entries__account__code__endswith=":write_offs").exists()
    report = verify_ledger()
    assert report.ok, report.violations


def test_a_chargeback_won_while_pending_gives_back_the_pending_funds_to_release(api, sandbox):
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook, amount=10_000, paid=10_000, released=False)
        resolve(sandbox, hook, dispute, "won")
    assert balances(api.merchant.id) == (0, 9_680)
    release_due()
    assert balances(api.merchant.id) == (9_680, 0)
    assert verify_ledger().ok


def test_a_signed_chargeback_for_more_than_was_captured_is_flagged_and_never_posted(api, sandbox):
    payment_id = captured_payment(api, 3000)
    attempt = Payment.objects.get(pk=payment_id).attempts.get()
    with receiving(sandbox) as hook:
        opened = sandbox.control("/disputes", {"provider": "card_a", "reference": attempt.id, "amount": 1000})
        hook.wait_for(lambda ds: any(d["event"]["type"] == "dispute.created" for d in ds))
    event = next(
        d["event"] for d in hook.of_type("dispute.created") if d["event"]["data"]["object"]["id"] == opened["id"]
    )
    event["id"] = "evt_forged_chargeback"
    event["data"]["object"]["amount"] = 30_000
    assert forward(signed("card_a", event)) == 200
    assert drain() == ["payments.apply_provider_event:flagged"]
    assert not Dispute.objects.filter(payment_id=payment_id).exists()
    assert not JournalTransaction.objects.filter(source_type="dispute").exists()
    attempt.refresh_from_db()
    assert attempt.review_reason.startswith(f"evidence_mismatch (dispute {opened['id']}): amount 30000")


def test_a_payment_with_an_open_dispute_cannot_be_refunded(api, sandbox):
    """The customer's bank is already returning the disputed money: a refund on top would pay the customer twice."""
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook, amount=1000)
    before = balances(api.merchant.id)
    response = api.post("/v1/refunds", {"payment": dispute.payment_id, "amount": 500})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("charge_disputed", "payment")
    assert "open dispute" in error["message"]
    assert not Refund.objects.filter(payment_id=dispute.payment_id).exists()
    assert balances(api.merchant.id) == before
    assert Payment.objects.get(pk=dispute.payment_id).amount_refunded == 0


def test_a_lost_dispute_leaves_only_the_rest_of_the_payment_refundable(api, sandbox):
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook, amount=1000)  # of 3000
        resolve(sandbox, hook, dispute, "lost")
    too_much = api.post("/v1/refunds", {"payment": dispute.payment_id, "amount": 2001})
    assert too_much.json()["error"]["code"] == "amount_exceeds_refundable"
    rest = api.post("/v1/refunds", {"payment": dispute.payment_id})
    assert rest.status_code == 200, rest.content
    assert rest.json()["amount"] == 2000
    drain()
    assert verify_ledger().ok


def test_a_won_dispute_leaves_the_whole_payment_refundable(api, sandbox):
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook, amount=1000)
        resolve(sandbox, hook, dispute, "won")
    whole = api.post("/v1/refunds", {"payment": dispute.payment_id})
    assert whole.status_code == 200, whole.content
    assert whole.json()["amount"] == 3000


def test_evidence_the_provider_refuses_reaches_the_dispute_the_back_office_and_the_merchant(api, sandbox, admin_client):
    with receiving(sandbox) as hook:
        dispute = chargeback(api, sandbox, hook)
        sandbox.advance(8 * 24 * 3600)  # the provider's clock is past its deadline; ours is not
        submitted = api.post(f"/v1/disputes/{dispute.id}", {"evidence": {"customer_name": "Ann"}, "submit": True})
        assert submitted.json()["status"] == "under_review"
        assert drain() == ["payments.dispute_respond:evidence_refused"]
    body = api.get(f"/v1/disputes/{dispute.id}").json()
    assert (body["status"], body["evidence_refused_reason"]) == ("needs_response", "evidence_past_due")
    assert events(dispute.id) == [EventType.DISPUTE_CREATED, EventType.DISPUTE_EVIDENCE_REFUSED]
    page = admin_client.get(f"/admin/payments/dispute/{dispute.id}/change/").content.decode()
    assert "Evidence refused by the provider" in page
    assert "evidence_past_due" in page
