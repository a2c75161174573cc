"""A new provider is one connector class plus a settings entry: ``card_c`` (a third acquirer of the sandbox) is
configured in ``config/settings.py`` only, and takes real traffic once a route names it."""

from __future__ import annotations

import re
from pathlib import Path

from ledger.models import JournalTransaction
from ledger.verification import verify_ledger
from payments.enums import PaymentStatus
from tests.payments.conftest import card_payment_body
from tests.payments.execution.conftest import attempts, drain, janitor, payment
from tests.payments.execution.test_upi_and_webhooks import forward
from tests.psp_sandbox import receiving

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = ("backoffice", "config", "core", "ledger", "payments", "reconciliation")


def test_card_c_is_named_only_in_the_settings():
    naming = sorted(
        str(path.relative_to(ROOT))
        for app in PRODUCT
        for path in (ROOT / app).rglob("*.py")
        # The connector's name as a word: Stripe's test payment methods (pm_card_chargeDeclined) and the vault's
        # card_ciphertext merely contain the letters.
        if re.search(r"\bcard_c\b", path.read_text())
    )
    assert naming == ["config/settings.py"]


def test_a_provider_added_by_configuration_takes_real_traffic(api, sandbox, settings):
    settings.PSP_ROUTING = {**settings.PSP_ROUTING, "card": ["card_c"]}
    with receiving(sandbox) as hook:
        automatic = api.post("/v1/payments", card_payment_body(confirm=True, amount=2500)).json()["id"]
        manual = api.post("/v1/payments", card_payment_body(confirm=True, capture_method="manual")).json()["id"]
        sandbox.control("/faults/next", {"provider": "card_c", "operation": "authorize", "mode": "lose_response"})
        lost = api.post("/v1/payments", card_payment_body(confirm=True, amount=1200)).json()["id"]
        assert sorted(drain()) == [
            "payments.execute_attempt:requires_capture",
            "payments.execute_attempt:succeeded",
            "payments.execute_attempt:unknown",
        ]
        assert janitor() == ["payments.check_attempt:succeeded"]  # the status lookup, at card_c
        assert api.post(f"/v1/payments/{manual}/capture", {"amount_to_capture": 1500}).status_code == 200
        refund = api.post("/v1/refunds", {"payment": automatic, "amount": 1000})
        assert refund.status_code == 200, refund.content
        drain()
        deliveries = hook.wait_for(
            lambda ds: (
                [d["event"]["type"] for d in ds].count("charge.captured") == 3
                and any(d["event"]["type"] == "refund.succeeded" for d in ds)
            )
        )
    for delivery in deliveries:  # signed with card_c's own secret, verified by its connector
        assert delivery["path"] == "/psp/webhooks/card_c"
        assert forward(delivery) == 200
    drain()

    for payment_id in (automatic, manual, lost):
        paid = payment(payment_id)
        assert (paid.status, paid.psp) == (PaymentStatus.SUCCEEDED, "card_c")
        assert {a.connector for a in attempts(payment_id)} == {"card_c"}
        assert not [a.review_reason for a in attempts(payment_id) if a.review_reason]
    assert api.get(f"/v1/refunds/{refund.json()['id']}").json()["status"] == "succeeded"
    assert {r["provider"] for r in sandbox.records()} == {"card_c"}
    assert [r["kind"] for r in sandbox.records()].count("capture") == 3
    assert JournalTransaction.objects.filter(metadata__connector="card_c").count() == 4  # 3 captures, 1 refund
    assert verify_ledger().ok
