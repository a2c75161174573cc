"""Random histories of a merchant's money — captures, partial and full refunds, refund failures, disputes opened,
won and lost, releases, payouts and returned payouts, in the pending and the available phase, on a controlled clock —
checked after every step against a model and the ledger's own business invariants.

CI runs a bounded number of examples; a long run: ``LEDGERLINE_STATEFUL_EXAMPLES=2000 .venv/bin/pytest
tests/payments/refunds/test_balance_stateful.py`` (docs/balances.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from ledger.balances import merchant_balances
from ledger.models import JournalEntry
from ledger.verification import verify_ledger
from payments.connectors.base import DisputeState, ProviderDispute
from payments.enums import (
    AttemptOperation,
    AttemptOutcome,
    CardBrand,
    PaymentMethodType,
    PaymentStatus,
    PayoutStatus,
)
from payments.exceptions import InvalidRequestError, PaymentStateError
from payments.models import Dispute, Payment, PaymentAttempt, Payout, Refund
from payments.services.disputes import dispute_apply_provider_dispute
from payments.services.funds import funds_capture_post, funds_release_due
from payments.services.merchants import merchant_create
from payments.services.payouts import payout_create, payout_fail
from payments.services.refunds import refund_attempt_apply, refund_create

EXAMPLES = int(os.environ.get("LEDGERLINE_STATEFUL_EXAMPLES", "20"))
FEE_BPS, FEE_FIXED, DISPUTE_FEE = 290, 30, 1_500


@dataclass
class Money:
    """The model: what the merchant has earned and given back, by where it stands."""

    earned: int = 0  # captured nets
    given_back: int = 0  # refunds not failed, disputes not won (amount + fee)
    paid_out: int = 0  # payouts not returned


class BalanceMachine(RuleBasedStateMachine):
    payments = Bundle("payments")
    refunds = Bundle("refunds")
    disputes = Bundle("disputes")
    payouts = Bundle("payouts")

    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.merchant, _ = merchant_create(name="Stateful", email="ops@stateful.test")
        self.start = timezone.now()
        self.clock = self.start
        self.model = Money()
        self.n = 0

    def teardown(self) -> None:
        self.atomic.__exit__(RuntimeError, RuntimeError("roll back"), None)

    def _balances(self) -> tuple[int, int]:
        found = merchant_balances(self.merchant.id)
        return sum(m.amount for m in found.available), sum(m.amount for m in found.pending)

    # --- money in --------------------------------------------------------------------------------------------
    @rule(target=payments, amount=st.integers(min_value=100, max_value=20_000))
    def capture(self, amount: int) -> str:
        fee = amount * FEE_BPS // 10_000 + FEE_FIXED
        payment = Payment.objects.create(
            merchant=self.merchant,
            livemode=False,
            amount=amount,
            currency="usd",
            amount_captured=amount,
            payment_method_type=PaymentMethodType.CARD,
            card_brand=CardBrand.VISA,
            card_last4="4242",
            psp="card_a",
        )
        Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.SUCCEEDED)
        attempt = PaymentAttempt.objects.create(
            payment=payment,
            merchant=self.merchant,
            livemode=False,
            amount=amount,
            connector="card_a",
            outcome=AttemptOutcome.SUCCEEDED,
            provider_reference=f"ch_{payment.id}",
        )
        with transaction.atomic():
            locked = Payment.objects.select_for_update().get(pk=payment.pk)
            funds_capture_post(
                payment=locked, connector="card_a", gross=amount, fee=fee, occurred_at=self.clock, now=self.clock
            )
        self.model.earned += amount - fee
        return attempt.id

    # --- money given back ---------------------------------------------------------------------------------------
    @rule(target=refunds, attempt_id=payments, share=st.sampled_from([4, 2, 1]))
    def refund(self, attempt_id: str, share: int) -> str:
        payment = PaymentAttempt.objects.get(pk=attempt_id).payment
        disputes = list(payment.disputes.values_list("status", "amount"))
        if any(status in ("needs_response", "under_review") for status, _ in disputes):
            # The customer's bank is returning the money already: no refund on top while a dispute is open.
            with pytest.raises(PaymentStateError) as refused:
                refund_create(merchant=self.merchant, livemode=False, payment_id=payment.id, amount=1)
            assert refused.value.code == "charge_disputed"
            return ""
        charged_back = sum(amount for status, amount in disputes if status in ("lost", "accepted"))
        left = payment.amount_captured - payment.amount_refunded - charged_back
        amount = max(1, left // share) if left > 0 else 1
        try:
            refund = refund_create(merchant=self.merchant, livemode=False, payment_id=payment.id, amount=amount)
        except InvalidRequestError:
            assert left == 0 or amount > left
            return ""
        self.model.given_back += amount
        return refund.id

    @rule(refund_id=refunds, succeeded=st.booleans())
    def refund_settles(self, refund_id: str, succeeded: bool) -> None:
        if not refund_id or Refund.objects.get(pk=refund_id).status != "pending":
            return
        with transaction.atomic():
            refund = Refund.objects.get(pk=refund_id)
            payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
            attempt = PaymentAttempt.objects.select_for_update().get(refund=refund)
            refund_attempt_apply(payment=payment, attempt=attempt, succeeded=succeeded, failure_reason="declined")
        if not succeeded:
            self.model.given_back -= refund.amount

    @rule(target=disputes, attempt_id=payments, share=st.sampled_from([0.5, 1.0]))
    def dispute_opened(self, attempt_id: str, share: float) -> str:
        payment = PaymentAttempt.objects.get(pk=attempt_id).payment
        if payment.disputed:
            return ""
        self.n += 1
        reference = f"dp_provider_{self.n}"
        amount = max(1, int(payment.amount_captured * share))
        outcome = dispute_apply_provider_dispute(
            dispute=self._dispute(reference, attempt_id, amount, payment.currency, DisputeState.OPEN)
        )
        assert outcome == "dispute_created"
        self.model.given_back += amount + DISPUTE_FEE
        return reference

    @rule(reference=disputes, won=st.booleans())
    def dispute_closed(self, reference: str, won: bool) -> None:
        if not reference:
            return
        dispute = Dispute.objects.get(provider_reference=reference)
        if dispute.status in ("won", "lost"):
            return
        attempt_id = dispute.payment.attempts.get(operation=AttemptOperation.AUTHORIZE).id
        state = DisputeState.WON if won else DisputeState.LOST
        dispute_apply_provider_dispute(
            dispute=self._dispute(reference, attempt_id, dispute.amount, dispute.currency, state)
        )
        if won:
            self.model.given_back -= dispute.amount + DISPUTE_FEE

    def _dispute(
        self, reference: str, attempt_id: str, amount: int, currency: str, state: DisputeState
    ) -> ProviderDispute:
        """The chargeback as the card connector reads it from the provider's dispute webhook."""
        return ProviderDispute(
            connector="card_a",
            provider_reference=reference,
            reference=attempt_id,
            amount=amount,
            currency=currency,
            fee=DISPUTE_FEE,
            reason="fraudulent",
            state=state,
            evidence_due_by=None,
            created=self.clock,
        )

    # --- time, releases, payouts --------------------------------------------------------------------------------
    @rule(hours=st.sampled_from([1, 12, 30, 50]))
    def time_passes_and_funds_are_released(self, hours: int) -> None:
        self.clock += timedelta(hours=hours)
        funds_release_due(now=self.clock)
        assert funds_release_due(now=self.clock) == 0  # once

    @rule(target=payouts, share=st.sampled_from([0.3, 1.0, 1.5]))
    def payout(self, share: float) -> str:
        available, pending = self._balances()
        amount = max(1, int(max(available, 1) * share))
        if amount > available:  # refused exactly when the available balance does not cover it
            with pytest.raises(InvalidRequestError) as refused:
                payout_create(merchant=self.merchant, livemode=False, amount=amount, currency="usd")
            assert refused.value.code == "insufficient_funds"
            return ""
        payout = payout_create(merchant=self.merchant, livemode=False, amount=amount, currency="usd")
        assert available + pending >= amount  # never more than the merchant has earned net of what it gave back
        self.model.paid_out += amount
        return payout.id

    @rule(payout_id=payouts)
    def payout_returned(self, payout_id: str) -> None:
        if not payout_id or Payout.objects.get(pk=payout_id).status == PayoutStatus.FAILED:
            return
        self.model.paid_out -= payout_fail(payout_id=payout_id, code="account_closed").amount

    # --- what must hold after every step -----------------------------------------------------------------------
    @invariant()
    def the_merchant_has_exactly_what_it_earned_less_what_it_gave_back_and_was_paid(self) -> None:
        available, pending = self._balances()
        assert available + pending == self.model.earned - self.model.given_back - self.model.paid_out

    @invariant()
    def pending_is_exactly_what_releases_will_move(self) -> None:
        _, pending = self._balances()
        waiting = Payment.objects.filter(merchant=self.merchant, funds_released_at__isnull=True)
        assert pending == sum(p.funds_pending for p in waiting)
        assert pending >= 0

    @invariant()
    def the_platform_absorbs_nothing(self) -> None:
        assert not JournalEntry.objects.filter(account__code__endswith=":write_offs").exists()
        assert not JournalEntry.objects.filter(account__code__endswith=":chargeback_losses").exists()

    @invariant()
    def the_ledger_verifies_with_its_business_invariants(self) -> None:
        report = verify_ledger()
        assert report.ok, report.violations


@pytest.mark.django_db
def test_random_histories_never_pay_a_merchant_more_than_it_earned():
    run_state_machine_as_test(
        BalanceMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
