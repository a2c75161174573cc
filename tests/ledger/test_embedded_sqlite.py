"""The embedded shape (SQLite, ``make run``) posts, refuses overdrafts, and its triggers refuse UPDATE/DELETE."""

from __future__ import annotations

import pytest

from tests import processes

pytestmark = pytest.mark.embedded

SCRIPT = """
import json
from datetime import UTC, datetime
from django.db import DatabaseError, connection, transaction
from ledger import recipes
from ledger.accounts import merchant_available, write_offs
from ledger.balances import balance
from ledger.exceptions import InsufficientFundsError
from ledger.money import Money
from ledger.verification import verify_ledger

now = datetime.now(UTC)
usd = lambda n: Money(n, "usd")
recipes.payment_captured(merchant_id="m1", connector="sandbox", payment_id="p1", gross=usd(1000), fee=usd(30),
                         occurred_at=now, available_on=now)
recipes.payment_captured(merchant_id="m1", connector="sandbox", payment_id="p1", gross=usd(1000), fee=usd(30),
                         occurred_at=now, available_on=now)
recipes.funds_released(merchant_id="m1", payment_id="p1", amount=usd(970), occurred_at=now)
result = {}
try:
    recipes.payout_created(merchant_id="m1", payout_id="po1", amount=usd(971), occurred_at=now)
except InsufficientFundsError:
    result["overdraft_refused"] = True
recipes.payout_created(merchant_id="m1", payout_id="po2", amount=usd(900), occurred_at=now)
recipes.chargeback_opened(merchant_id="m1", connector="sandbox", dispute_id="dp1", payment_id="p1",
                          amount=usd(100), dispute_fee=usd(15), occurred_at=now)
result["owed"] = -balance(merchant_available("m1", "usd")).amount
recipes.merchant_write_off(write_off_id="wo1", merchant_id="m1", amount=usd(45), reason="closed", actor="ann",
                           occurred_at=now)
result["losses"] = balance(write_offs("usd")).amount
from ledger.seal import seal_pending
result["sealed"] = seal_pending().sealed
for sql in ("UPDATE ledger_journalentry SET amount = 1", "DELETE FROM ledger_journaltransaction",
            "UPDATE ledger_journaltransaction SET description = 'x'", "DELETE FROM ledger_journalseal"):
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    except DatabaseError as error:
        result.setdefault("refused", []).append(str(error))
result["available"] = balance(merchant_available("m1", "usd")).amount
result["as_of_past"] = balance(merchant_available("m1", "usd"), as_of=now).amount
result["verified"] = verify_ledger().ok
print(json.dumps(result))
"""


def test_the_ledger_works_on_sqlite(tmp_path):
    result = processes.embedded_shell(SCRIPT, tmp_path)

    assert result["overdraft_refused"] is True
    assert result["available"] == 0
    assert result["owed"] == 45  # 100 + 15 charged back, 70 covered by the merchant: the merchant owes the rest
    assert result["losses"] == 45  # ... until someone writes it off, explicitly
    assert result["as_of_past"] == 0
    assert result["verified"] is True
    assert result["sealed"] == 5  # capture, release, payout, chargeback, write-off
    assert len(result["refused"]) == 4
    assert all("immutable" in message for message in result["refused"])
