"""Given our side of a day (payments, attempts, ledger captures) and a provider's file, built line by line."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from ledger import recipes
from ledger.money import Money
from payments.enums import AttemptOperation, AttemptOutcome, PaymentStatus, RefundStatus
from payments.models import Merchant, Payment, PaymentAttempt, Refund
from payments.services.merchants import merchant_create
from reconciliation.enums import DiscrepancyStatus, Resolution, SettlementFileSource
from reconciliation.models import Discrepancy, ReconciliationRun
from reconciliation.services.resolutions import discrepancy_resolve
from reconciliation.services.runs import reconcile_day

DAY = date(2025, 1, 2)  # the settlement date; its file holds the movements of the day before (T+1)
CAPTURED_AT = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
HEADER = (
    "batch_id,settlement_date,type,provider_reference,our_reference,rrn,currency,gross,fee,net,"
    "transaction_date,original_provider_reference\n"
)
_numbers = itertools.count(1)


@dataclass
class Line:
    type: str
    provider_reference: str
    our_reference: str
    gross: int
    fee: int
    currency: str = "usd"
    rrn: str = ""
    original: str = ""
    transaction_date: datetime = CAPTURED_AT

    def csv(self, day: date) -> str:
        stamp = self.transaction_date.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return (
            f"stl_card_a_{day:%Y%m%d},{day.isoformat()},{self.type},{self.provider_reference},{self.our_reference},"
            f"{self.rrn},{self.currency},{self.gross},{self.fee},{self.gross - self.fee},{stamp},{self.original}\n"
        )


@dataclass
class Day:
    """Our records of the day, and the lines a clean provider file would hold for them."""

    merchant: Merchant
    connector: str = "card_a"
    lines: list[Line] = field(default_factory=list)

    def capture(
        self,
        amount: int = 10_000,
        *,
        fee: int = 320,
        method: str = "card",
        status: str = PaymentStatus.SUCCEEDED,
        rrn: str = "",
        ledger: bool | None = None,
        at: datetime = CAPTURED_AT,
    ) -> Line:
        n = next(_numbers)
        payment = Payment.objects.create(
            merchant=self.merchant,
            livemode=False,
            amount=amount,
            amount_captured=amount if status == PaymentStatus.SUCCEEDED else 0,
            currency="inr" if method == "upi" else "usd",
            status=status,
            payment_method_type=method,
            upi_rrn=rrn,
            psp=self.connector,
        )
        prefix = "upi" if method == "upi" else "ch"
        attempt = PaymentAttempt.objects.create(
            payment=payment,
            merchant=self.merchant,
            livemode=False,
            amount=amount,
            connector=self.connector,
            provider_reference=f"{prefix}_{n}",
            outcome=AttemptOutcome.SUCCEEDED if status == PaymentStatus.SUCCEEDED else AttemptOutcome.FAILED,
            fee=fee,
        )
        # ``ledger=None``: the capture is in our ledger when the payment succeeded; True/False force it either way.
        if ledger if ledger is not None else status == PaymentStatus.SUCCEEDED:
            recipes.payment_captured(
                merchant_id=self.merchant.pk,
                connector=self.connector,
                payment_id=payment.pk,
                gross=Money(amount, payment.currency),
                fee=Money(amount // 50, payment.currency),
                occurred_at=at,
                available_on=at,
                provider_reference=attempt.provider_reference,
            )
        line = Line("charge", attempt.provider_reference, attempt.pk, amount, fee, payment.currency, rrn)
        line.transaction_date = at
        self.lines.append(line)
        return line

    def refund(self, charge: Line, amount: int, *, record: bool = True) -> Line:
        """A refund as the back office makes it: a Refund, its provider attempt, and the ledger's refund posted
        before the provider answered (so without the provider's reference). ``record=False``: none of ours."""
        n = next(_numbers)
        line = Line("refund", f"re_{n}", f"att_re_{n}", -amount, 0, charge.currency, original=charge.provider_reference)
        self.lines.append(line)
        if not record:
            return line
        charge_attempt = PaymentAttempt.objects.get(provider_reference=charge.provider_reference)
        refund = Refund.objects.create(
            merchant=self.merchant,
            livemode=False,
            payment_id=charge_attempt.payment_id,
            amount=amount,
            currency=charge.currency,
            status=RefundStatus.SUCCEEDED,
        )
        PaymentAttempt.objects.create(
            id=line.our_reference,
            payment_id=charge_attempt.payment_id,
            merchant=self.merchant,
            livemode=False,
            operation=AttemptOperation.REFUND,
            amount=amount,
            connector=self.connector,
            provider_reference=line.provider_reference,
            outcome=AttemptOutcome.SUCCEEDED,
            refund=refund,
        )
        recipes.refund_created(
            merchant_id=self.merchant.pk,
            connector=self.connector,
            refund_id=refund.pk,
            payment_id=charge_attempt.payment_id,
            amount=Money(amount, charge.currency),
            occurred_at=CAPTURED_AT + timedelta(hours=1),
            provider_reference=None,
        )
        return line

    def chargeback(self, charge: Line, amount: int) -> Line:
        """A chargeback as the payments side records it (the dispute opened in our ledger), and its provider line."""
        n = next(_numbers)
        payment_id = PaymentAttempt.objects.get(provider_reference=charge.provider_reference).payment_id
        line = Line(
            "chargeback", f"dp_{n}", f"dsp_{n}", -amount, 0, charge.currency, original=charge.provider_reference
        )
        recipes.chargeback_opened(
            merchant_id=self.merchant.pk,
            connector=self.connector,
            dispute_id=line.our_reference,
            payment_id=payment_id,
            amount=Money(amount, charge.currency),
            dispute_fee=Money(1500, charge.currency),
            occurred_at=CAPTURED_AT + timedelta(hours=2),
            provider_reference=line.provider_reference,
        )
        self.lines.append(line)
        return line


def settlement_csv(lines: Iterable[Line], day: date = DAY) -> bytes:
    return (HEADER + "".join(line.csv(day) for line in lines)).encode()


def reconcile(content: bytes, *, connector: str = "card_a", day: date = DAY) -> ReconciliationRun:
    return reconcile_day(
        connector=connector, settlement_date=day, source=io.BytesIO(content), source_kind=SettlementFileSource.COMMAND
    )


def found(run: ReconciliationRun | None = None) -> set[tuple[str, str]]:
    queryset = Discrepancy.objects.all() if run is None else run.discrepancies.all()
    return {(d.kind, d.key) for d in queryset}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def finance_user(db: Any) -> Any:
    """A member of the Finance group as ``setup_groups`` makes it: the group that may resolve discrepancies."""
    call_command("setup_groups", verbosity=0)
    user = get_user_model().objects.create_user("fin", "fin@example.test", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no permission cache


@pytest.fixture
def day(db: Any) -> Day:
    merchant, _ = merchant_create(name="Acme", email="acme@example.test")
    return Day(merchant)


def payment_of(line: Line) -> str:
    """The id of the payment a charge line settles (what payment-side discrepancies are keyed by)."""
    return PaymentAttempt.objects.get(provider_reference=line.provider_reference).payment_id


def resolve_all(action: str = Resolution.WRITTEN_OFF) -> None:
    """Resolve every open discrepancy as a Finance user would (written off unless told otherwise)."""
    call_command("setup_groups", verbosity=0)
    finance, _ = get_user_model().objects.get_or_create(username="finance@acme", defaults={"is_staff": True})
    finance.groups.add(Group.objects.get(name="Finance"))
    for discrepancy in Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN):
        discrepancy_resolve(discrepancy_id=discrepancy.pk, action=action, user=finance, reason="checked")
