"""The payments app's metrics: transitions and provider calls as they happen; backlogs read at scrape time.

Counters move only when the transaction that made the change commits (``on_commit``), so a rolled-back transition
is never counted. The scrape-time figures each read one partial index or the cache (see core/metrics.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.db.models import Count, Min
from django.db.models.functions import Now
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import Metric

from core.metrics import LATENCY_BUCKETS, gauge, scrape_collector_register

PAYMENTS = Counter(
    "ledgerline_payments_total",
    "Payments reaching a status, by status, payment method and connector",
    ["status", "method", "connector"],
)
REFUNDS = Counter("ledgerline_refunds_total", "Refunds reaching a status", ["status"])
DISPUTES = Counter("ledgerline_disputes_total", "Disputes reaching a status", ["status"])
PAYOUTS = Counter("ledgerline_payouts_total", "Payouts reaching a status", ["status"])
PROVIDER_CALLS = Histogram(
    "ledgerline_provider_call_duration_seconds",
    "Provider calls of the executor, by connector, operation and outcome (succeeded, failed, unknown, not_sent)",
    ["connector", "operation", "outcome"],
    buckets=LATENCY_BUCKETS,
)
WEBHOOK_DELIVERY_ATTEMPTS = Counter(
    "ledgerline_webhook_delivery_attempts_total",
    "Webhook delivery attempts by result (succeeded, retrying, failed, deferred, skipped)",
    ["result"],
)


def _on_transition(sender: type[Any], instance: Any, target: str = "", **_: Any) -> None:
    from payments.models import Dispute, Payment, Payout, Refund

    if sender is Payment:
        # The connector is assigned next to the transition (payments/services/payments.py), so it is read at commit.
        def count() -> None:
            PAYMENTS.labels(target, instance.payment_method_type or "none", instance.psp or "none").inc()

    elif sender is Refund:

        def count() -> None:
            REFUNDS.labels(target).inc()

    elif sender is Dispute:

        def count() -> None:
            DISPUTES.labels(target).inc()

    elif sender is Payout:

        def count() -> None:
            PAYOUTS.labels(target).inc()

    else:
        return
    transaction.on_commit(count)


def provider_call_observe(*, connector: str, operation: str, outcome: str, seconds: float) -> None:
    PROVIDER_CALLS.labels(connector or "none", operation, outcome).observe(seconds)


def webhook_delivery_count(result: str) -> None:
    WEBHOOK_DELIVERY_ATTEMPTS.labels(result).inc()


# --- read at scrape time ---------------------------------------------------------------------------------------
def _collect_executor() -> Iterator[Metric]:
    from payments.enums import AttemptOutcome, DisputeStatus, WebhookDeliveryStatus
    from payments.models import Dispute, OutboxMessage, PaymentAttempt, WebhookDelivery

    in_doubt = (
        PaymentAttempt.objects.filter(outcome=AttemptOutcome.UNKNOWN)
        .values("connector")
        .annotate(n=Count("id"))
        .order_by()
    )
    yield gauge(
        "ledgerline_attempts_in_doubt",
        "Provider calls whose outcome is unknown (timeout, 5xx) and that the janitor is still asking about",
        ["connector"],
        (([row["connector"] or "none"], row["n"]) for row in in_doubt),
    )
    yield gauge(
        "ledgerline_attempts_needing_review",
        "Attempts flagged for a person (the janitor gave up asking, or the provider's answer did not match)",
        [],
        [([], PaymentAttempt.objects.exclude(review_reason="").count())],
    )
    yield gauge(
        "ledgerline_disputes_needing_response",
        "Disputes waiting for the merchant's evidence",
        [],
        [([], Dispute.objects.filter(status=DisputeStatus.NEEDS_RESPONSE).count())],
    )
    # The relay's own partial index (published_at IS NULL): cheap however long the published history is.
    due = OutboxMessage.objects.filter(published_at=None, available_at__lte=Now()).aggregate(
        backlog=Count("id"), oldest=Min("available_at")
    )
    lag = (timezone.now() - due["oldest"]).total_seconds() if due["oldest"] is not None else 0.0
    yield gauge("ledgerline_outbox_backlog", "Outbox rows due and not yet published", [], [([], due["backlog"])])
    yield gauge(
        "ledgerline_outbox_lag_seconds",
        "Age of the oldest due, unpublished outbox row (0 when none)",
        [],
        [([], max(lag, 0.0))],
    )
    pending = WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING)
    yield gauge(
        "ledgerline_webhook_deliveries_pending", "Webhook deliveries not yet delivered", [], [([], pending.count())]
    )


def _collect_providers() -> Iterator[Metric]:
    from payments.connectors import registry
    from payments.connectors.circuit import CircuitState
    from payments.services.admission import queue_depth

    states: list[tuple[list[str], float]] = []
    for name in registry.connector_names():
        current = registry.breaker_get(name).state()
        states.extend(([name, str(state)], 1.0 if state is current else 0.0) for state in CircuitState)
    yield gauge(
        "ledgerline_circuit_state",
        "The circuit breaker of each provider: 1 for its current state (closed, open, half_open)",
        ["connector", "state"],
        states,
    )
    from django.conf import settings

    queues = ["celery", settings.WEBHOOKS_QUEUE, *registry.psp_queues()]
    yield gauge(
        "ledgerline_celery_queue_depth",
        "Tasks waiting in each Celery queue (Redis broker only)",
        ["queue"],
        (([queue], queue_depth(queue)) for queue in dict.fromkeys(queues)),
    )


def metrics_connect() -> None:
    from django_fsm.signals import post_transition

    post_transition.connect(_on_transition, dispatch_uid="ledgerline-metrics-transitions")
    scrape_collector_register("payments_executor", _collect_executor)
    scrape_collector_register("payments_providers", _collect_providers)
