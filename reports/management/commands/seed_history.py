"""``manage.py seed_history --days 7``: a few days of varied history so the dashboard and reports have something to say.

Demo and development only (refused in production). Today's traffic goes through the provider sandbox like any other;
history cannot (the sandbox lives in the present), so past days are written with the same building blocks the
executor uses: each payment and attempt reaches its state through its django-fsm transitions, and every money
movement is posted by ``payments.services.funds`` with the day it happened as ``occurred_at``. Webhooks and events
are not replayed for history. Deterministic for a given ``--seed``. ``make run`` calls it with ``--if-empty``, after
``seed_demo`` (the demo merchant and the back office's user).
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from payments.enums import AttemptOutcome, PaymentMethodType
from payments.models import Dispute, Merchant, Payment, PaymentAttempt, Refund
from payments.services.funds import funds_capture_post, funds_chargeback_post, funds_refund_post, funds_release_due
from payments.services.merchants import merchant_create
from payments.services.payouts import payout_create
from payments.services.pricing import pricing_fee

MERCHANTS = (("Blue Bottle Books", "usd"), ("Chai Point", "inr"), ("Nimbus Outfitters", "usd"))
DECLINES = ("card_declined", "insufficient_funds", "expired_card", "do_not_honor")


class Command(BaseCommand):
    help = "Seed a few days of varied demo history (payments, declines, refunds, disputes, payouts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=7)
        parser.add_argument("--per-day", type=int, default=30, help="payments per merchant and day (about)")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--if-empty", action="store_true", help="do nothing when demo history already exists")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_history writes made-up history: never in production")
        days: int = options["days"]
        if not 1 <= days <= 90:
            raise CommandError("--days must be between 1 and 90")
        if options["if_empty"] and Merchant.objects.filter(name=MERCHANTS[0][0]).exists():
            self.stdout.write("demo history already seeded")
            return
        rng = random.Random(options["seed"])  # noqa: S311 - demo data, not security
        now = timezone.now()
        counts = {"payments": 0, "refunds": 0, "disputes": 0, "payouts": 0}
        merchants = [self._merchant(name) for name, _ in MERCHANTS]
        for offset in range(days - 1, -1, -1):
            day = (now - timedelta(days=offset)).date()
            for merchant, (_, currency) in zip(merchants, MERCHANTS, strict=True):
                for _ in range(max(1, int(options["per_day"] * rng.uniform(0.6, 1.4)))):
                    at = datetime.combine(day, time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=now.tzinfo)
                    if at > now:  # today: only the hours gone by so far
                        midnight = datetime.combine(day, time.min, tzinfo=now.tzinfo)
                        at = midnight + (now - midnight) * rng.random()
                    self._payment(rng, merchant, currency, at, counts)
        funds_release_due(now=now)
        for merchant, (_, currency) in zip(merchants, MERCHANTS, strict=True):
            self._payout(merchant, currency, counts)
        self._owing(merchants[2], counts, now)
        self._in_doubt(merchants[0], now)
        self.stdout.write(
            f"seeded {days} days: {counts['payments']} payments, {counts['refunds']} refunds, "
            f"{counts['disputes']} disputes, {counts['payouts']} payouts for {len(merchants)} merchants"
        )

    def _merchant(self, name: str) -> Merchant:
        merchant = Merchant.objects.filter(name=name).first()
        if merchant is None:
            merchant, issued = merchant_create(name=name, email=f"ops@{name.split()[0].lower()}.test")
            self.stdout.write(f"{name}: {merchant.id}, test key {issued.secret}")
        return merchant

    @transaction.atomic
    def _payment(
        self, rng: random.Random, merchant: Merchant, currency: str, at: datetime, counts: dict[str, int]
    ) -> None:
        upi = currency == "inr" and rng.random() < 0.7
        method = PaymentMethodType.UPI if upi else PaymentMethodType.CARD
        connector = "upi" if upi else rng.choice(("card_a", "card_a", "card_a", "card_b"))
        amount = rng.choice((499, 1250, 2000, 3500, 7900, 12000, 25000)) * (100 if currency == "inr" else 1)
        payment = Payment(
            merchant=merchant,
            livemode=False,
            amount=amount,
            currency=currency,
            payment_method_type=method,
            card_brand="" if upi else rng.choice(("visa", "visa", "mastercard", "amex")),
            card_last4="" if upi else "4242",
            upi_flow="intent" if upi else "",
            psp=connector,
            description="demo order",
            created=at,
        )
        payment.confirm()
        payment.save()
        Payment.objects.filter(pk=payment.pk).update(created=at, updated=at)
        declined = rng.random() < (0.12 if connector == "card_b" else 0.06)
        attempt = PaymentAttempt.objects.create(
            payment=payment,
            merchant=merchant,
            livemode=False,
            amount=amount,
            connector=connector,
            provider_reference=f"demo_{payment.id}",
            outcome=AttemptOutcome.FAILED if declined else AttemptOutcome.SUCCEEDED,
            failure_code=rng.choice(DECLINES) if declined else "",
            fee=None if declined else amount * 2 // 100,
            started_at=at,
            finished_at=at + timedelta(seconds=1),
        )
        PaymentAttempt.objects.filter(pk=attempt.pk).update(created=at)
        counts["payments"] += 1
        if declined:
            payment.mark_failed(code=attempt.failure_code, message="Declined by the issuer (demo).")
            payment.save()
            return
        payment.mark_succeeded()
        payment.save()
        fee = pricing_fee(merchant_id=merchant.id, payment_method_type=method, amount=amount)
        funds_capture_post(
            payment=payment,
            connector=connector,
            gross=amount,
            fee=fee,
            occurred_at=at,
            now=at,
            provider_reference=attempt.provider_reference,
        )
        roll = rng.random()
        if roll < 0.06:
            self._refund(payment, connector, amount // rng.choice((1, 2)), at + timedelta(hours=rng.randint(1, 30)))
            counts["refunds"] += 1
        elif roll < 0.075:
            self._dispute(payment, connector, at + timedelta(hours=rng.randint(2, 40)))
            counts["disputes"] += 1

    def _refund(self, payment: Payment, connector: str, amount: int, at: datetime) -> None:
        at = min(at, timezone.now())
        refund = Refund.objects.create(
            merchant_id=payment.merchant_id,
            livemode=False,
            payment=payment,
            amount=amount,
            currency=payment.currency,
            reason="requested_by_customer",
            requested_by="demo",
        )
        Refund.objects.filter(pk=refund.pk).update(created=at)
        funds_refund_post(payment=payment, refund_id=refund.id, connector=connector, amount=amount, occurred_at=at)
        refund.mark_succeeded()
        refund.save()
        Payment.objects.filter(pk=payment.pk).update(amount_refunded=amount)

    def _dispute(self, payment: Payment, connector: str, at: datetime) -> None:
        at = min(at, timezone.now())
        dispute = Dispute.objects.create(
            merchant_id=payment.merchant_id,
            livemode=False,
            payment=payment,
            amount=payment.amount,
            currency=payment.currency,
            fee=1500 if payment.currency == "usd" else 150000,
            reason="fraudulent",
            evidence_due_by=at + timedelta(days=7),
            connector=connector,
            provider_reference=f"demo_dp_{payment.id}",
        )
        Dispute.objects.filter(pk=dispute.pk).update(created=at)
        funds_chargeback_post(
            payment=payment,
            dispute_id=dispute.id,
            connector=connector,
            amount=payment.amount,
            fee=dispute.fee,
            occurred_at=at,
        )
        Payment.objects.filter(pk=payment.pk).update(disputed=True)

    def _payout(self, merchant: Merchant, currency: str, counts: dict[str, int]) -> None:
        from ledger.balances import merchant_balances

        available = sum(m.amount for m in merchant_balances(merchant.id).available if m.currency == currency)
        if available > 0:
            payout_create(
                merchant=merchant,
                livemode=False,
                amount=available * 3 // 4,
                currency=currency,
                description="demo payout",
                metadata={},
            )
            counts["payouts"] += 1

    def _owing(self, merchant: Merchant, counts: dict[str, int], now: datetime) -> None:
        """One merchant ends up owing: after the payout took most of its money, customers of its released payments
        are refunded in full until its available balance is below zero."""
        from ledger.balances import merchant_balances

        released = (
            Payment.objects.filter(merchant=merchant, status="succeeded", amount_refunded=0, disputed=False)
            .exclude(funds_released_at=None)
            .order_by("-amount")
        )
        for payment in released[:50]:
            if sum(m.amount for m in merchant_balances(merchant.id).available) < 0:
                break
            with transaction.atomic():
                self._refund(payment, payment.psp, payment.amount, now)
            counts["refunds"] += 1

    def _in_doubt(self, merchant: Merchant, now: datetime) -> None:
        """An attempt whose outcome nobody knows yet: what Support's queue and the dashboard count."""
        payment = Payment.objects.filter(merchant=merchant, status="succeeded").order_by("-id").first()
        if payment is not None:
            PaymentAttempt.objects.create(
                payment=payment,
                merchant=merchant,
                livemode=False,
                amount=payment.amount,
                connector=payment.psp,
                operation="capture",
                outcome=AttemptOutcome.UNKNOWN,
                started_at=now,
                review_reason="demo: the provider timed out",
            )
