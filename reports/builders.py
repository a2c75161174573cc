"""What each report contains: its columns, how many rows it will have, and its rows, in order, as plain values.

Every builder reads the same sources as the API and the ledger: balance transactions come from the selector and the
representation ``GET /v1/balance_transactions`` uses; fees, the trial balance and balances owed come from journal
entries. Rows are read with server-side cursors (``iterator``), so a report of any size streams in constant memory.
Column definitions: docs/reports.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any, Protocol

from django.conf import settings
from django.db.models import BigIntegerField, Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from ledger import references
from ledger.enums import AccountType, Direction
from ledger.models import Account, JournalEntry
from ledger.money import Money
from payments import selectors
from payments.api.balances import balance_transaction_representation
from payments.models import Dispute, Merchant, Payment, PaymentAttempt, Payout, Refund

CHUNK = 2000


def reporting_database() -> str:
    """Where reports read: the read replica when ``DATABASE_REPLICA_URL`` configures one (heavy queries stay off
    the primary; a replica a few seconds behind only means a report made at once may miss the newest rows)."""
    return "replica" if "replica" in settings.DATABASES else "default"


@dataclass(frozen=True, slots=True)
class ReportScope:
    """One merchant (or every merchant: ``merchant_id`` None, the back office only), one mode (None: both), and the
    UTC dates ``date_from`` to ``date_to``, both inclusive. Point-in-time reports are as of the end of ``date_to``."""

    merchant_id: str | None
    date_from: date
    date_to: date
    livemode: bool | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after ``date_to``."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC)

    def owned(self, queryset: QuerySet[Any], *, created: str = "created") -> QuerySet[Any]:
        """A merchant-owned queryset narrowed to the scope."""
        queryset = queryset.using(reporting_database())
        queryset = queryset.filter(**{f"{created}__gte": self.start, f"{created}__lt": self.end})
        if self.merchant_id is not None:
            queryset = queryset.filter(merchant_id=self.merchant_id)
        if self.livemode is not None:
            queryset = queryset.filter(livemode=self.livemode)
        return queryset


class ReportBuilder(Protocol):
    title: str
    columns: tuple[str, ...]

    def count(self, scope: ReportScope) -> int: ...

    def rows(self, scope: ReportScope) -> Iterator[list[Any]]: ...


def _money(amount: int | None, currency: str) -> Money:
    return Money(int(amount or 0), currency)


def _capture_fee() -> Subquery:
    """Our fee on a payment, as the ledger recorded it at capture (``None`` for a payment never captured)."""
    fee = Cast(KeyTextTransform("fee", "metadata"), BigIntegerField())
    return Subquery(references.capture_of(OuterRef("id")).annotate(fee_value=fee).values("fee_value")[:1])


class PaymentsReport:
    title = "payments"
    columns: tuple[str, ...] = (
        "id",
        "created",
        "merchant_id",
        "livemode",
        "status",
        "payment_method",
        "card_brand",
        "connector",
        "currency",
        "amount",
        "amount_captured",
        "amount_refunded",
        "fee",
        "net",
        "disputed",
        "failure_code",
        "attempts",
        "attempt_outcomes",
    )

    def _queryset(self, scope: ReportScope) -> QuerySet[Payment]:
        return scope.owned(Payment.objects.all())

    def count(self, scope: ReportScope) -> int:
        return self._queryset(scope).count()

    def _attempts(self, payment_ids: list[str]) -> dict[str, list[str]]:
        """Each payment's attempts as ``operation:connector:outcome[:failure_code]``, in order: one query a chunk
        (Django's ``prefetch_related`` clones a queryset per payment, which cost more than the rest of the row)."""
        outcomes: dict[str, list[str]] = defaultdict(list)
        attempts = (
            PaymentAttempt.objects.using(reporting_database())
            .filter(payment_id__in=payment_ids)
            .order_by("payment_id", "id")
            .values_list("payment_id", "operation", "connector", "outcome", "failure_code")
        )
        for payment_id, operation, connector, outcome, code in attempts:
            outcomes[payment_id].append(f"{operation}:{connector or '-'}:{outcome}" + (f":{code}" if code else ""))
        return outcomes

    def rows(self, scope: ReportScope) -> Iterator[list[Any]]:
        payments = (
            self._queryset(scope)
            .annotate(ledger_fee=_capture_fee())
            .order_by("id")
            .values_list(
                "id",
                "created",
                "merchant_id",
                "livemode",
                "status",
                "payment_method_type",
                "card_brand",
                "psp",
                "currency",
                "amount",
                "amount_captured",
                "amount_refunded",
                "ledger_fee",
                "disputed",
                "failure_code",
            )
            .iterator(chunk_size=CHUNK)
        )
        while chunk := list(islice(payments, CHUNK)):
            attempts = self._attempts([p[0] for p in chunk])
            for (
                pid,
                created,
                mid,
                live,
                status,
                method,
                brand,
                psp,
                cur,
                amount,
                captured,
                refunded,
                fee,
                disputed,
                code,
            ) in chunk:
                fee = int(fee or 0)
                outcomes = attempts.get(pid, [])
                yield [
                    pid,
                    created,
                    mid,
                    live,
                    status,
                    method,
                    brand,
                    psp,
                    cur,
                    Money(amount, cur),
                    Money(captured, cur),
                    Money(refunded, cur),
                    Money(fee, cur),
                    Money(captured - fee if captured else 0, cur),
                    disputed,
                    code,
                    len(outcomes),
                    " ".join(outcomes),
                ]


class BalanceTransactionsReport:
    """``GET /v1/balance_transactions``, as a file: same selector, same representation, for the scope's dates."""

    title = "balance_transactions"
    columns: tuple[str, ...] = (
        "id",
        "created",
        "available_on",
        "merchant_id",
        "type",
        "source",
        "description",
        "currency",
        "amount",
        "fee",
        "net",
        "status",
    )

    def _merchants(self, scope: ReportScope) -> Iterator[Merchant]:
        merchants = Merchant.objects.using(reporting_database()).order_by("id")
        if scope.merchant_id is not None:
            merchants = merchants.filter(pk=scope.merchant_id)
        return merchants.iterator(chunk_size=CHUNK)

    def _transactions(self, merchant: Merchant, scope: ReportScope) -> QuerySet[Any]:
        return (
            selectors.balance_transaction_list(merchant=merchant)
            .using(reporting_database())
            .filter(occurred_at__gte=scope.start, occurred_at__lt=scope.end)
        )

    def count(self, scope: ReportScope) -> int:
        return sum(self._transactions(m, scope).count() for m in self._merchants(scope))

    def rows(self, scope: ReportScope) -> Iterator[list[Any]]:
        now = timezone.now()
        for merchant in self._merchants(scope):
            txns = self._transactions(merchant, scope).order_by("occurred_at", "id").iterator(chunk_size=CHUNK)
            for txn in txns:
                r = balance_transaction_representation(txn, now=now)
                cur = r["currency"]
                yield [
                    r["id"],
                    r["created"],
                    r["available_on"],
                    merchant.id,
                    r["type"],
                    r["source"],
                    r["description"],
                    cur,
                    _money(r["amount"], cur),
                    _money(r["fee"], cur),
                    _money(r["net"], cur),
                    r["status"],
                ]


class RefundsReport:
    title = "refunds"
    columns: tuple[str, ...] = (
        "id",
        "created",
        "merchant_id",
        "livemode",
        "payment_id",
        "status",
        "currency",
        "amount",
        "reason",
        "failure_reason",
        "requested_by",
    )

    def count(self, scope: ReportScope) -> int:
        return scope.owned(Refund.objects.all()).count()

    def rows(self, scope: ReportScope) -> Iterator[list[Any]]:
        for r in scope.owned(Refund.objects.all()).order_by("id").iterator(chunk_size=CHUNK):
            yield [
                r.id,
                r.created,
                r.merchant_id,
                r.livemode,
                r.payment_id,
                r.status,
                r.currency,
                _money(r.amount, r.currency),
                r.reason,
                r.failure_reason,
                r.requested_by,
            ]


class DisputesReport:
    title = "disputes"
    columns: tuple[str, ...] = (
        "id",
        "created",
        "merchant_id",
        "livemode",
        "payment_id",
        "connector",
        "reason",
        "status",
        "currency",
        "amount",
        "fee",
        "evidence_due_by",
        "evidence_submitted_at",
        "closed_at",
    )

    def count(self, scope: ReportScope) -> int:
        return scope.owned(Dispute.objects.all()).count()

    def rows(self, scope: ReportScope) -> Iterator[list[Any]]:
        for d in scope.owned(Dispute.objects.all()).order_by("id").iterator(chunk_size=CHUNK):
            yield [
                d.id,
                d.created,
                d.merchant_id,
                d.livemode,
                d.payment_id,
                d.connector,
                d.reason,
                d.status,
                d.currency,
                _money(d.amount, d.currency),
                _money(d.fee, d.currency),
                d.evidence_due_by,
                d.evidence_submitted_at,
                d.closed_at,
            ]


class PayoutsReport:
    title = "payouts"
    columns: tuple[str, ...] = (
        "id",
        "created",
        "merchant_id",
        "livemode",
        "status",
        "currency",
        "amount",
        "arrival_date",
        "failure_code",
        "description",
    )

    def count(self, scope: ReportScope) -> int:
        return scope.owned(Payout.objects.all()).count()

    def rows(self, scope: ReportScope) -> Iterator[list[Any]]:
        for p in scope.owned(Payout.objects.all()).order_by("id").iterator(chunk_size=CHUNK):
            yield [
                p.id,
                p.created,
                p.merchant_id,
                p.livemode,
                p.status,
                p.currency,
                _money(p.amount, p.currency),
                p.arrival_date,
                p.failure_code,
                p.description,
            ]


class FeesReport:
    """Captures per UTC day, connector, payment method and currency, from the ledger's capture transactions (gross
    and our fee as posted), with what the providers reported charging for those payments' attempts."""

    title = "fees"
    columns: tuple[str, ...] = (
        "date",
        "connector",
        "payment_method",
        "currency",
        "payments",
        "gross",
        "fee",
        "net",
        "provider_fee",
    )

    def _groups(self, scope: ReportScope) -> QuerySet[Any]:
        payments = Payment.objects.filter(pk=OuterRef("source_id"))
        if scope.livemode is not None:
            payments = payments.filter(livemode=scope.livemode)
        captures = (
            references.captures()
            .using(reporting_database())
            .filter(occurred_at__gte=scope.start, occurred_at__lt=scope.end)
        )
        if scope.merchant_id is not None:
            captures = captures.filter(metadata__merchant_id=scope.merchant_id)
        provider_fee = (
            PaymentAttempt.objects.filter(payment_id=OuterRef("source_id"))
            .order_by()
            .values("payment_id")
            .annotate(total=Sum("fee"))
            .values("total")
        )
        return (
            captures.annotate(
                method=Subquery(payments.values("payment_method_type")[:1]),
                payment_currency=Subquery(payments.values("currency")[:1]),
                day=TruncDate("occurred_at", tzinfo=UTC),
                via=KeyTextTransform("connector", "metadata"),
                gross_value=Cast(KeyTextTransform("gross", "metadata"), BigIntegerField()),
                fee_value=Cast(KeyTextTransform("fee", "metadata"), BigIntegerField()),
                provider_fee_value=Subquery(provider_fee, output_field=BigIntegerField()),
            )
            .filter(method__isnull=False)
            .order_by()
            .values("day", "via", "method", "payment_currency")
            .annotate(
                payments=Count("id"),
                gross=Sum("gross_value"),
                fee=Sum("fee_value"),
                provider_fee=Sum("provider_fee_value"),
            )
            .order_by("day", "via", "method", "payment_currency")
        )

    def count(self, scope: ReportScope) -> int:
        return self._groups(scope).count()

    def rows(self, scope: ReportScope) -> Iterator[list[Any]]:
        for g in self._groups(scope).iterator(chunk_size=CHUNK):
            cur = g["payment_currency"]
            gross, fee = int(g["gross"] or 0), int(g["fee"] or 0)
            yield [
                g["day"],
                g["via"],
                g["method"],
                cur,
                g["payments"],
                _money(gross, cur),
                _money(fee, cur),
                _money(gross - fee, cur),
                _money(g["provider_fee"], cur),
            ]


def _entries_until(scope: ReportScope) -> QuerySet[JournalEntry]:
    return JournalEntry.objects.filter(posted_at__lt=scope.end)


class TrialBalanceReport:
    """Every ledger account as of the end of ``date_to``: its debits, credits and balance. The last rows, one per
    currency (``code`` = ``TOTAL``), show that debits equal credits."""

    title = "trial_balance"
    columns: tuple[str, ...] = ("code", "name", "type", "merchant_id", "currency", "debits", "credits", "balance")

    def _accounts(self, scope: ReportScope) -> QuerySet[Any]:
        until = Q(entries__posted_at__lt=scope.end)
        accounts = Account.objects.using(reporting_database())
        if scope.merchant_id is not None:
            accounts = accounts.filter(merchant_id=scope.merchant_id)
        return (
            accounts.annotate(
                debits=Sum("entries__amount", filter=until & Q(entries__direction=Direction.DEBIT)),
                credits=Sum("entries__amount", filter=until & Q(entries__direction=Direction.CREDIT)),
            )
            .filter(Q(debits__isnull=False) | Q(credits__isnull=False))
            .order_by("currency", "code")
            .values("code", "name", "type", "merchant_id", "currency", "debits", "credits")
        )

    def count(self, scope: ReportScope) -> int:
        accounts = self._accounts(scope)
        return accounts.count() + accounts.order_by().values("currency").distinct().count()  # + a TOTAL a currency

    def rows(self, scope: ReportScope) -> Iterator[list[Any]]:
        totals: dict[str, list[int]] = {}
        for a in self._accounts(scope).iterator(chunk_size=CHUNK):
            cur = a["currency"]
            debits, credits = int(a["debits"] or 0), int(a["credits"] or 0)
            balance = debits - credits if AccountType(a["type"]).debit_normal else credits - debits
            total = totals.setdefault(cur, [0, 0])
            total[0] += debits
            total[1] += credits
            yield [
                a["code"],
                a["name"],
                a["type"],
                a["merchant_id"],
                cur,
                _money(debits, cur),
                _money(credits, cur),
                _money(balance, cur),
            ]
        for cur, (debits, credits) in sorted(totals.items()):
            yield ["TOTAL", "debits and credits", "", None, cur, _money(debits, cur), _money(credits, cur), None]


class BalancesOwedReport:
    """Merchants whose available balance was below zero at the end of ``date_to``: money they owe the platform."""

    title = "balances_owed"
    columns: tuple[str, ...] = ("merchant_id", "merchant_name", "currency", "available", "pending", "owed")

    def _owing(self, scope: ReportScope) -> QuerySet[Any]:
        newest = (
            _entries_until(scope)
            .filter(account_id=OuterRef("pk"))
            .order_by("-posted_at", "-sequence")
            .values("balance_after")[:1]
        )
        accounts = Account.objects.using(reporting_database()).filter(
            merchant_id__isnull=False, code__endswith=":available"
        )
        if scope.merchant_id is not None:
            accounts = accounts.filter(merchant_id=scope.merchant_id)
        pending_account = Account.objects.filter(
            merchant_id=OuterRef("merchant_id"), currency=OuterRef("currency"), code__endswith=":pending"
        )
        newest_pending = (
            _entries_until(scope)
            .filter(account_id=OuterRef("pk"))
            .order_by("-posted_at", "-sequence")
            .values("balance_after")[:1]
        )
        return (
            accounts.annotate(available=Subquery(newest))
            .filter(available__lt=0)
            .annotate(
                pending=Subquery(pending_account.annotate(b=Subquery(newest_pending)).values("b")[:1]),
                merchant_name=Subquery(Merchant.objects.filter(pk=OuterRef("merchant_id")).values("name")[:1]),
            )
            .order_by("available", "merchant_id")
            .values("merchant_id", "merchant_name", "currency", "available", "pending")
        )

    def count(self, scope: ReportScope) -> int:
        return self._owing(scope).count()

    def rows(self, scope: ReportScope) -> Iterator[list[Any]]:
        for a in self._owing(scope).iterator(chunk_size=CHUNK):
            cur = a["currency"]
            yield [
                a["merchant_id"],
                a["merchant_name"],
                cur,
                _money(a["available"], cur),
                _money(a["pending"], cur),
                _money(-int(a["available"]), cur),
            ]


# The reports a merchant may ask for through the API; the back office has all of them.
MERCHANT_REPORTS: dict[str, ReportBuilder] = {
    "payments": PaymentsReport(),
    "balance_transactions": BalanceTransactionsReport(),
    "refunds": RefundsReport(),
    "disputes": DisputesReport(),
    "payouts": PayoutsReport(),
    "fees": FeesReport(),
}
REPORTS: dict[str, ReportBuilder] = {
    **MERCHANT_REPORTS,
    "trial_balance": TrialBalanceReport(),
    "balances_owed": BalancesOwedReport(),
}


def report_builder(report_type: str) -> ReportBuilder:
    return REPORTS[report_type]
