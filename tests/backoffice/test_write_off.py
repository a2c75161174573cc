"""The platform absorbs a merchant's debt only by an explicit write-off: a Finance person, a reason, at most what is
owed, an audit entry, and a ledger transaction verify_ledger accepts as the only movement of a loss account."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from backoffice.models import AuditLogEntry
from backoffice.services import BackofficeActionError, backoffice_write_off
from ledger.balances import merchant_balances
from ledger.verification import verify_ledger
from tests.payments.refunds.helpers import captured_payment

pytestmark = pytest.mark.usefixtures("groups")


def owed(merchant_id: str) -> int:
    return -sum(m.amount for m in merchant_balances(merchant_id).available)


def a_merchant_that_owes(api) -> int:
    payment_id = captured_payment(api, 10_000)
    assert api.post("/v1/refunds", {"payment": payment_id}).status_code == 200  # refunded in full while pending
    return owed(api.merchant.id)


def user(name: str):
    return get_user_model().objects.get(username=name)


def test_finance_writes_off_what_a_merchant_owes_with_a_reason_and_an_audit_entry(api, sandbox, finance):
    assert a_merchant_that_owes(api) == 320
    with pytest.raises(BackofficeActionError, match="reason"):
        backoffice_write_off(user=user("fay"), merchant=api.merchant, currency="usd", amount=320, reason=" ")
    with pytest.raises(BackofficeActionError, match="owes 320"):
        backoffice_write_off(user=user("fay"), merchant=api.merchant, currency="usd", amount=321, reason="closed")
    txn = backoffice_write_off(
        user=user("fay"), merchant=api.merchant, currency="usd", amount=320, reason="merchant closed, unrecoverable"
    )
    assert owed(api.merchant.id) == 0
    assert (txn.source_type, txn.metadata["actor"]) == ("write_off", "fay")
    entries = AuditLogEntry.objects.filter(action="merchant.write_off").order_by("id")
    assert [e.outcome.split(":")[0] for e in entries] == ["refused", "ok"]
    assert (entries.last().before, entries.last().after["owed"]) == ({"owed": {"usd": 320}}, {})
    report = verify_ledger()
    assert report.ok, report.violations


def test_support_may_not_write_off(api, sandbox, support):
    a_merchant_that_owes(api)
    with pytest.raises(BackofficeActionError, match="may not"):
        backoffice_write_off(user=user("sam"), merchant=api.merchant, currency="usd", amount=1, reason="x")
    assert owed(api.merchant.id) == 320


def test_the_command_writes_off_under_a_named_user(api, sandbox, finance, capsys):
    a_merchant_that_owes(api)
    call_command("write_off", api.merchant.id, "usd", "300", "--reason", "goodwill", "--user", "fay")
    assert owed(api.merchant.id) == 20
    with pytest.raises(CommandError):
        call_command("write_off", api.merchant.id, "usd", "21", "--reason", "goodwill", "--user", "fay")
