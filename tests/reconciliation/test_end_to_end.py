"""A day of live sandbox traffic with settlement faults → the nightly task → the queue → resolutions → clean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.verification import verify_ledger
from payments.models import PaymentAttempt
from reconciliation.enums import DiscrepancyStatus, Resolution
from reconciliation.models import Discrepancy
from reconciliation.services.resolutions import discrepancy_resolve
from reconciliation.tasks import reconcile_connector_day
from tests.payments.conftest import Api, card_payment_body
from tests.payments.execution.conftest import api, drain  # noqa: F401 - the api fixture
from tests.psp_sandbox import Client


def _pay(api: Api, amount: int) -> PaymentAttempt:  # noqa: F811 - the fixture's value
    response = api.post("/v1/payments", card_payment_body(confirm=True, amount=amount))
    assert response.status_code == 200, response.content
    return PaymentAttempt.objects.get(payment_id=response.json()["id"])


def test_a_faulty_day_is_found_resolved_and_then_reconciles_clean(
    psp_settings: None,
    sandbox: Client,
    api: Api,  # noqa: F811 - the fixture
    settings: Any,
    tmp_path: Any,
    finance_user: Any,
) -> None:
    settings.MEDIA_ROOT = tmp_path
    today = datetime.now(UTC).date() + timedelta(days=3)
    sandbox.control("/clock", {"set": f"{today}T10:00:00Z"})  # mid-day: the payments all fall on `today`
    settle = today + timedelta(days=1)
    created = [_pay(api, amount) for amount in (2000, 3000, 4000)]
    drain()
    _clean, altered, dropped = (PaymentAttempt.objects.get(pk=a.pk) for a in created)
    for fault in (
        {"mode": "alter_amount", "reference": altered.pk, "delta": 100},
        {"mode": "drop_line", "reference": dropped.pk},
        {"mode": "unknown_charge", "amount": 4242},
    ):
        sandbox.control("/settlement_faults", {"provider": "card_a", "date": settle.isoformat(), **fault})
    sandbox.advance(86400 + 60)

    reconcile_connector_day("card_a", settle.isoformat())

    queue = {(d.kind, d.provider_reference or d.payment_id) for d in Discrepancy.objects.all()}
    assert queue == {
        ("amount_mismatch", altered.provider_reference),
        ("timing", dropped.provider_reference),
        ("missing_in_ledger", f"ch_unknown_{settle:%Y%m%d}_1"),
    }
    for discrepancy in Discrepancy.objects.all():
        discrepancy_resolve(
            discrepancy_id=discrepancy.pk, action=Resolution.WRITTEN_OFF, user=finance_user, reason="end to end"
        )

    reconcile_connector_day("card_a", settle.isoformat())

    assert not Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN).exists()
    assert Discrepancy.objects.count() == 3
    assert verify_ledger().ok
