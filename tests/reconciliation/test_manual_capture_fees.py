"""Fees are right for manual and partial captures: the provider prices a charge when it is captured, and a day of
manual-capture payments reconciles with no discrepancy (no ``fee_mismatch``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.models import JournalTransaction
from ledger.verification import verify_ledger
from payments.enums import AttemptOperation, PaymentStatus
from payments.models import Payment, PaymentAttempt
from payments.services.pricing import pricing_fee
from reconciliation.models import Discrepancy, ReconciliationRun
from reconciliation.tasks import reconcile_connector_day
from tests.payments.conftest import Api, card_payment_body
from tests.payments.execution.conftest import api, drain  # noqa: F401 - the api fixture
from tests.psp_sandbox import Client


def _authorize(api: Api, amount: int, capture_method: str) -> str:  # noqa: F811 - the fixture's value
    response = api.post("/v1/payments", card_payment_body(confirm=True, amount=amount, capture_method=capture_method))
    assert response.status_code == 200, response.content
    return str(response.json()["id"])


def test_a_day_of_manual_and_partial_captures_reconciles_clean(
    psp_settings: None,
    sandbox: Client,
    api: Api,  # noqa: F811 - the fixture
    settings: Any,
    tmp_path: Any,
) -> None:
    settings.MEDIA_ROOT = tmp_path
    today = datetime.now(UTC).date() + timedelta(days=3)
    sandbox.control("/clock", {"set": f"{today}T10:00:00Z"})
    settle = today + timedelta(days=1)
    # (amount authorized, amount captured): full and partial captures, and an automatic payment beside them.
    manual = [(3000, 3000), (5000, 1800), (12_345, 12_000), (999, 998)]
    manual_ids = [_authorize(api, amount, "manual") for amount, _ in manual]
    automatic_id = _authorize(api, 4000, "automatic")
    drain()
    for payment_id, (_, captured) in zip(manual_ids, manual, strict=True):
        assert Payment.objects.get(pk=payment_id).status == PaymentStatus.REQUIRES_CAPTURE
        response = api.post(f"/v1/payments/{payment_id}/capture", {"amount_to_capture": captured})
        assert response.status_code == 200, response.content
    drain()
    sandbox.advance(86400 + 60)

    reconcile_connector_day("card_a", settle.isoformat())

    run = ReconciliationRun.objects.get()
    assert run.lines == len(manual) + 1
    assert list(Discrepancy.objects.values_list("kind", "payment_id")) == []
    for payment_id, (_, captured) in zip(manual_ids, manual, strict=True):
        authorization = PaymentAttempt.objects.get(payment_id=payment_id, operation=AttemptOperation.AUTHORIZE)
        charge = next(r for r in sandbox.records() if r["kind"] == "capture" and r["reference"] == authorization.pk)
        assert authorization.fee == charge["fee"] > 0  # the provider's fee on what it captured, where it settles
        posting = JournalTransaction.objects.get(reference=f"payment:{payment_id}:capture")
        # Our own price is on the amount captured, not on the amount authorized.
        assert posting.metadata["gross"] == captured
        assert posting.metadata["fee"] == pricing_fee(
            merchant_id=api.merchant.id, payment_method_type="card", amount=captured
        )
    assert Payment.objects.get(pk=automatic_id).status == PaymentStatus.SUCCEEDED
    assert verify_ledger().ok
