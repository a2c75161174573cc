"""The dashboard's figures (Finance and Support): platform-wide reads for a date range and one currency.

Money figures come from the ledger through the report builders (``reports.builders``), so the dashboard, the
reports and ``GET /v1/balance`` always agree; counts and rates come from the payments' own rows. Like the reports,
every figure is read from the replica when ``DATABASE_REPLICA_URL`` configures one (``reporting_database``): the
dashboard's platform-wide aggregates stay off the primary, at the price of being a few seconds behind it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from backoffice.selectors import IN_DOUBT
from payments.enums import AttemptOperation, AttemptOutcome, DisputeStatus, PayoutStatus, RefundStatus
from payments.models import Dispute, PaymentAttempt, Payout, Refund
from reconciliation.enums import DiscrepancyStatus
from reconciliation.models import Discrepancy
from reports.builders import BalancesOwedReport, FeesReport, ReportScope, reporting_database

AGE_BUCKETS = ((timedelta(days=1), "< 1 day"), (timedelta(days=7), "1-7 days"), (None, "> 7 days"))


@dataclass(frozen=True, slots=True)
class DashboardFilters:
    date_from: date
    date_to: date
    currency: str

    @classmethod
    def default(cls, *, today: date | None = None, days: int = 7, currency: str = "usd") -> DashboardFilters:
        end = today or timezone.now().date()
        return cls(date_from=end - timedelta(days=days - 1), date_to=end, currency=currency)

    @property
    def scope(self) -> ReportScope:
        return ReportScope(merchant_id=None, date_from=self.date_from, date_to=self.date_to)

    @property
    def days(self) -> list[date]:
        return [self.date_from + timedelta(days=n) for n in range((self.date_to - self.date_from).days + 1)]


@dataclass
class DailySeries:
    """Per day and series (``card · card_a``): captured volume (minor units) and count, from the ledger."""

    days: list[date]
    volume: dict[str, dict[date, int]] = field(default_factory=dict)
    count: dict[str, dict[date, int]] = field(default_factory=dict)

    @property
    def total_volume(self) -> int:
        return sum(sum(by_day.values()) for by_day in self.volume.values())

    @property
    def total_count(self) -> int:
        return sum(sum(by_day.values()) for by_day in self.count.values())


def daily_volume(filters: DashboardFilters) -> DailySeries:
    series = DailySeries(days=filters.days)
    for day, connector, method, currency, payments, gross, *_ in FeesReport().rows(filters.scope):
        if currency != filters.currency:
            continue
        name = f"{method} · {connector}"
        series.volume.setdefault(name, defaultdict(int))[day] += gross.amount
        series.count.setdefault(name, defaultdict(int))[day] += payments
    return series


@dataclass(frozen=True, slots=True)
class Rate:
    label: str
    numerator: int
    denominator: int

    @property
    def percent(self) -> float | None:
        # A ratio for people to read, never money: a float is fine here.
        return 100 * self.numerator / self.denominator if self.denominator else None


def _in_range(filters: DashboardFilters) -> Q:
    scope = filters.scope
    return Q(created__gte=scope.start, created__lt=scope.end)


def authorization_rates(filters: DashboardFilters) -> list[Rate]:
    """Per connector: authorizations that succeeded out of those with an outcome (unknown and pending aside)."""
    rows = (
        PaymentAttempt.objects.using(reporting_database())
        .filter(
            _in_range(filters),
            operation=AttemptOperation.AUTHORIZE,
            outcome__in=[AttemptOutcome.SUCCEEDED, AttemptOutcome.FAILED],
            payment__currency=filters.currency,
        )
        .values("connector")
        .annotate(ok=Count("id", filter=Q(outcome=AttemptOutcome.SUCCEEDED)), all=Count("id"))
        .order_by("connector")
    )
    return [Rate(r["connector"] or "—", r["ok"], r["all"]) for r in rows]


def refund_and_dispute_rates(filters: DashboardFilters, captured: int) -> list[Rate]:
    """Refunds and disputes opened in the range, out of the captures in the range (counts)."""
    refunds = (
        Refund.objects.using(reporting_database())
        .filter(_in_range(filters), currency=filters.currency)
        .exclude(status__in=[RefundStatus.FAILED, RefundStatus.CANCELED])
        .count()
    )
    disputes = Dispute.objects.using(reporting_database()).filter(_in_range(filters), currency=filters.currency).count()
    return [Rate("Refund rate", refunds, captured), Rate("Dispute rate", disputes, captured)]


@dataclass(frozen=True, slots=True)
class DiscrepancyAges:
    kinds: list[str]
    buckets: list[str]
    counts: dict[tuple[str, str], int]

    def row(self, kind: str) -> list[int]:
        return [self.counts.get((kind, b), 0) for b in self.buckets]


def open_discrepancies(*, now: datetime | None = None) -> DiscrepancyAges:
    now = now or timezone.now()
    counts: dict[tuple[str, str], int] = {}
    younger_than: datetime | None = None
    for limit, label in AGE_BUCKETS:
        older = now - limit if limit is not None else None
        bucket = Discrepancy.objects.using(reporting_database()).filter(status=DiscrepancyStatus.OPEN)
        if older is not None:
            bucket = bucket.filter(created__gt=older)
        if younger_than is not None:
            bucket = bucket.filter(created__lte=younger_than)
        for row in bucket.values("kind").annotate(n=Count("id")):
            counts[(row["kind"], label)] = row["n"]
        younger_than = older
    kinds = sorted({kind for kind, _ in counts})
    return DiscrepancyAges(kinds=kinds, buckets=[label for _, label in AGE_BUCKETS], counts=counts)


def attempts_in_doubt() -> int:
    return PaymentAttempt.objects.using(reporting_database()).filter(IN_DOUBT).count()


@dataclass(frozen=True, slots=True)
class PayoutsDue:
    count: int
    amount: int
    currency: str


def payouts_due(filters: DashboardFilters) -> PayoutsDue:
    """Payouts on their way (pending or in transit), whatever their date: money leaving us."""
    due = (
        Payout.objects.using(reporting_database())
        .filter(status__in=[PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT], currency=filters.currency)
        .aggregate(n=Count("id"), total=Sum("amount"))
    )
    return PayoutsDue(count=due["n"], amount=int(due["total"] or 0), currency=filters.currency)


@dataclass(frozen=True, slots=True)
class Owing:
    merchant_id: str
    merchant_name: str
    owed: int
    currency: str


def merchants_owing(filters: DashboardFilters) -> list[Owing]:
    """Merchants whose available balance is below zero now (the ``balances_owed`` report's rows)."""
    today = timezone.now().date()
    rows = BalancesOwedReport().rows(ReportScope(merchant_id=None, date_from=today, date_to=today))
    return [
        Owing(merchant_id=mid, merchant_name=name or "", owed=owed.amount, currency=cur)
        for mid, name, cur, _available, _pending, owed in rows
        if cur == filters.currency
    ]


def open_disputes_count() -> int:
    return (
        Dispute.objects.using(reporting_database())
        .filter(status__in=[DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW])
        .count()
    )
