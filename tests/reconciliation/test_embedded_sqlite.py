"""The embedded shape (SQLite) imports with batched inserts and matches with the same portable SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import processes

pytestmark = pytest.mark.embedded

SCRIPT = """
import io, json
from datetime import UTC, date, datetime
from ledger import recipes
from ledger.money import Money
from ledger.verification import verify_ledger
from payments.models import Payment, PaymentAttempt
from payments.services.merchants import merchant_create
from reconciliation.services.runs import reconcile_day

merchant, _ = merchant_create(name="Embedded", email="e@example.test")
payment = Payment.objects.create(merchant=merchant, livemode=False, amount=1000, amount_captured=1000,
                                 currency="usd", status="succeeded", payment_method_type="card", psp="card_a")
attempt = PaymentAttempt.objects.create(payment=payment, merchant=merchant, livemode=False, amount=1000,
                                        connector="card_a", provider_reference="ch_1", outcome="succeeded", fee=59)
recipes.payment_captured(merchant_id=merchant.pk, connector="card_a", payment_id=payment.pk,
                         gross=Money(1000, "usd"), fee=Money(59, "usd"),
                         occurred_at=datetime(2025, 1, 1, 9, tzinfo=UTC),
                         available_on=datetime(2025, 1, 3, 9, tzinfo=UTC), provider_reference="ch_1")
# A UPI payment tried twice (declined, then paid): its line, found by the RRN, is matched once, to the paid attempt.
upi = Payment.objects.create(merchant=merchant, livemode=False, amount=700, amount_captured=700, currency="usd",
                             status="succeeded", payment_method_type="upi", psp="card_a", upi_rrn="509876543212")
for reference, outcome, fee in (("upi_declined", "failed", 0), ("upi_paid", "succeeded", 10)):
    PaymentAttempt.objects.create(payment=upi, merchant=merchant, livemode=False, amount=700, connector="card_a",
                                  provider_reference=reference, outcome=outcome, fee=fee)
recipes.payment_captured(merchant_id=merchant.pk, connector="card_a", payment_id=upi.pk,
                         gross=Money(700, "usd"), fee=Money(10, "usd"),
                         occurred_at=datetime(2025, 1, 1, 9, tzinfo=UTC),
                         available_on=datetime(2025, 1, 3, 9, tzinfo=UTC), provider_reference="upi_paid")
header = ("batch_id,settlement_date,type,provider_reference,our_reference,rrn,currency,gross,fee,net,"
          "transaction_date,original_provider_reference")
lines = [f"stl_card_a_20250102,2025-01-02,charge,ch_1,{attempt.pk},,usd,1000,59,941,2025-01-01T09:00:00.000000Z,",
         "stl_card_a_20250102,2025-01-02,charge,ch_x,,,usd,500,0,500,2025-01-01T10:00:00.000000Z,",
         "stl_card_a_20250102,2025-01-02,charge,upi_other,,509876543212,usd,700,10,690,2025-01-01T09:00:00.000000Z,"]
content = "\\n".join([header, *lines]).encode() + b"\\n"
runs = [reconcile_day(connector="card_a", settlement_date=date(2025, 1, 2), source=io.BytesIO(content))
        for _ in range(2)]
print(json.dumps({"first": [runs[0].lines, runs[0].matched, runs[0].new_discrepancies, runs[0].posted],
                  "second": [runs[1].matched, runs[1].new_discrepancies, runs[1].posted],
                  "kinds": sorted(runs[0].discrepancies.values_list("kind", flat=True)),
                  "verified": verify_ledger().ok}))
"""


def test_reconciliation_works_on_sqlite(tmp_path: Path) -> None:
    result = processes.embedded_shell(SCRIPT, tmp_path)

    assert result == {"first": [3, 2, 1, 2], "second": [2, 0, 0], "kinds": ["missing_in_ledger"], "verified": True}
