"""The ledger owns its reference formats: the recipes post under them, and the reads outside the ledger go through
``ledger.references`` instead of splitting strings."""

from __future__ import annotations

import pytest
from django.db.models import OuterRef

from ledger import recipes, references
from ledger.models import JournalTransaction
from ledger.references import Flow
from tests.ledger.conftest import NOW, usd

pytestmark = pytest.mark.django_db

M = "mch_1"


def test_every_recipe_posts_under_the_reference_the_ledger_describes_and_reads_back_as_its_flow():
    posted = {
        Flow.CAPTURE: recipes.payment_captured(
            merchant_id=M,
            connector="sb",
            payment_id="pay_1",
            gross=usd(10_000),
            fee=usd(320),
            occurred_at=NOW,
            available_on=NOW,
        ),
        Flow.RELEASE: recipes.funds_released(merchant_id=M, payment_id="pay_1", amount=usd(9_680), occurred_at=NOW),
        Flow.REFUND: recipes.refund_created(
            merchant_id=M, connector="sb", refund_id="re_1", payment_id="pay_1", amount=usd(100), occurred_at=NOW
        ).transaction,
        Flow.REFUND_FAILED: recipes.refund_failed(refund_id="re_1", occurred_at=NOW),
        Flow.DISPUTE_OPENED: recipes.chargeback_opened(
            merchant_id=M,
            connector="sb",
            dispute_id="dp_1",
            payment_id="pay_1",
            amount=usd(1000),
            dispute_fee=usd(0),
            occurred_at=NOW,
        ).transaction,
        Flow.DISPUTE_WON: recipes.dispute_won(dispute_id="dp_1", occurred_at=NOW),
        Flow.PAYOUT: recipes.payout_created(merchant_id=M, payout_id="po_1", amount=usd(500), occurred_at=NOW),
        Flow.PAYOUT_FAILED: recipes.payout_failed(payout_id="po_1", occurred_at=NOW),
        Flow.SETTLEMENT: recipes.psp_settlement(
            connector="sb", settlement_id="charge:ch_1", gross=usd(10_000), fee=usd(300), occurred_at=NOW
        ),
    }
    expected = {
        Flow.CAPTURE: references.payment_capture("pay_1"),
        Flow.RELEASE: references.payment_release("pay_1"),
        Flow.REFUND: references.refund("re_1"),
        Flow.REFUND_FAILED: references.refund_failed("re_1"),
        Flow.DISPUTE_OPENED: references.dispute_opened("dp_1"),
        Flow.DISPUTE_WON: references.dispute_won("dp_1"),
        Flow.PAYOUT: references.payout("po_1"),
        Flow.PAYOUT_FAILED: references.payout_failed("po_1"),
        Flow.SETTLEMENT: references.settlement("sb", "charge:ch_1"),
    }
    assert {flow: txn.reference for flow, txn in posted.items()} == expected
    assert {flow: references.reference_flow(txn.reference) for flow, txn in posted.items()} == {f: f for f in posted}
    assert references.reference_flow(references.write_off("wo_1")) is Flow.WRITE_OFF
    assert references.reference_flow("something:else") is Flow.OTHER

    assert [t.source_id for t in references.captures()] == ["pay_1"]
    assert references.capture_get(payment_id="pay_1") == posted[Flow.CAPTURE]
    assert references.capture_get(payment_id="pay_2") is None
    assert Flow.RELEASE not in {references.reference_flow(t.reference) for t in references.without_releases()}
    released = references.captures().filter(references.released(OuterRef("source_id")))
    assert list(released) == [posted[Flow.CAPTURE]]
    assert JournalTransaction.objects.filter(references.released("pay_1")).exists()
