"""The executor in real Celery worker processes on the provider queues, against the live sandbox.

Lost responses, timeouts and a worker killed with SIGKILL in the middle of a provider call: after the janitor
runs, every payment is in its final state and the sandbox's own records show exactly one charge per payment.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db.models.functions import Now
from django.test import override_settings

from ledger.models import JournalTransaction
from ledger.verification import verify_ledger
from payments.enums import PaymentStatus
from payments.models import PaymentAttempt, ProviderEvent
from payments.services.attempts.janitor import attempts_janitor
from payments.services.outbox_relay import outbox_relay_batch
from tests import processes
from tests.payments.conftest import card_payment_body
from tests.payments.execution.conftest import attempts, payment
from tests.payments.execution.test_upi_and_webhooks import forward
from tests.psp_sandbox import receiving

pytestmark = [pytest.mark.worker]

QUEUES = "celery,psp.card_a,psp.card_b,psp.upi"
FINAL = {PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.CANCELED}


def relay() -> int:
    """One batch of the real outbox relay: commands go to their provider's queue."""
    return outbox_relay_batch().claimed


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        relay()
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc = processes.start(
            [
                str(processes.BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--queues",
                QUEUES,
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"psp-{uuid.uuid4().hex[:8]}@%h",
            ],
            env,
            log,
        )

    def kill(self) -> None:
        processes.stop(self.proc, sig=signal.SIGKILL)

    def stop(self) -> None:
        processes.stop(self.proc)


@pytest.fixture
def start_worker(worker_env, tmp_path) -> Iterator[Callable[[], Worker]]:
    env = {
        **worker_env,
        "PSP_READ_TIMEOUT": "2",
        "PSP_CONNECT_TIMEOUT": "1",
        "PSP_CIRCUIT_COOLDOWN_SECONDS": "0.5",
        "PSP_CIRCUIT_FAILURE_THRESHOLD": "3",
    }
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(env, tmp_path / f"worker{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def settle(payment_ids: list[str], *, timeout: float = 60) -> None:
    """Runs the janitor (with every check due now) until each payment is final and no attempt is open."""

    def done() -> bool:
        open_attempts = PaymentAttempt.objects.filter(payment_id__in=payment_ids, outcome__in=["pending", "unknown"])
        if all(payment(p).status in FINAL for p in payment_ids) and not open_attempts.exists():
            return True
        PaymentAttempt.objects.filter(payment_id__in=payment_ids).exclude(next_check_at=None).update(
            next_check_at=Now()
        )
        attempts_janitor()
        return False

    wait_for(done, timeout=timeout, what="every payment final")


def one_charge_each(sandbox, payment_ids: list[str]) -> None:
    records = sandbox.records()
    for payment_id in payment_ids:
        refs = {a.id for a in attempts(payment_id)}
        charges = [r for r in records if r["kind"] == "charge" and r["reference"] in refs]
        assert len(charges) == 1, (payment_id, charges)


def test_lost_responses_and_timeouts_end_with_one_charge_per_payment(api, sandbox, start_worker):
    start_worker()
    for rule in (
        {"mode": "lose_response", "count": 2},
        {"mode": "timeout", "seconds": 4, "apply": True, "count": 1},
        {"mode": "timeout", "seconds": 4, "count": 1},
        {"mode": "lose_response", "how": "502", "count": 1},
    ):
        sandbox.control("/faults/next", {"provider": "card_a", "operation": "authorize", **rule})
    payment_ids = [api.post("/v1/payments", card_payment_body(confirm=True)).json()["id"] for _ in range(8)]
    wait_for(
        lambda: not PaymentAttempt.objects.filter(payment_id__in=payment_ids, outcome="pending").exists(),
        timeout=60,
        what="every first call answered or timed out",
    )
    unknown = PaymentAttempt.objects.filter(payment_id__in=payment_ids, outcome="unknown").count()
    assert unknown >= 3  # (the circuit may open on the third and send the rest to card_b at once)
    settle(payment_ids)
    assert {payment(p).status for p in payment_ids} == {PaymentStatus.SUCCEEDED}
    one_charge_each(sandbox, payment_ids)
    assert verify_ledger().ok


def test_a_worker_killed_mid_call_leaves_the_attempt_to_the_janitor(api, sandbox, start_worker):
    worker = start_worker()
    # The provider takes 1.5 s to answer: long enough to kill the worker while the call is in flight.
    sandbox.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "latency", "ms": 1500})
    payment_id = api.post("/v1/payments", card_payment_body(confirm=True)).json()["id"]
    wait_for(
        lambda: PaymentAttempt.objects.filter(payment_id=payment_id, locked_at__isnull=False).exists(),
        timeout=30,
        what="the attempt claimed by the worker",
    )
    worker.kill()
    (attempt,) = attempts(payment_id)
    assert (attempt.outcome, payment(payment_id).status) == ("pending", PaymentStatus.PROCESSING)
    time.sleep(2)  # the provider finishes the call nobody is waiting for any more
    start_worker()
    with override_settings(PSP_ATTEMPT_STALE_SECONDS=0.5):
        settle([payment_id])
    assert payment(payment_id).status == PaymentStatus.SUCCEEDED
    one_charge_each(sandbox, [payment_id])


def test_provider_outage_fails_card_payments_over_to_the_second_acquirer(api, sandbox, start_worker):
    start_worker()
    payment_ids = [api.post("/v1/payments", card_payment_body(confirm=True)).json()["id"] for _ in range(2)]
    sandbox.control("/faults", {"provider": "card_a", "outage": True})
    payment_ids += [api.post("/v1/payments", card_payment_body(confirm=True)).json()["id"] for _ in range(6)]
    wait_for(
        lambda: sum(payment(p).psp == "card_b" for p in payment_ids) >= 3,
        timeout=60,
        what="payments failing over to card_b",
    )
    sandbox.control("/reset")
    time.sleep(0.6)
    settle(payment_ids)
    assert {payment(p).status for p in payment_ids} == {PaymentStatus.SUCCEEDED}
    one_charge_each(sandbox, payment_ids)


def test_a_worker_killed_mid_call_while_the_providers_webhooks_arrive_succeeds_once(api, sandbox, start_worker):
    """The race of issue 13 with no fault but a kill: the provider charged, the worker died before it heard, and
    the provider's ``charge.authorized`` and ``charge.captured`` reach the platform while the attempt is still
    claimed by the dead worker. The authorization alone must not move an automatic-capture payment."""
    with receiving(sandbox) as hook:
        worker = start_worker()
        # The provider charges at once, then holds the answer: the worker is killed while it waits for it.
        sandbox.control(
            "/faults/next",
            {"provider": "card_a", "operation": "authorize", "mode": "timeout", "seconds": 10, "apply": True},
        )
        payment_id = api.post("/v1/payments", card_payment_body(confirm=True)).json()["id"]
        wait_for(lambda: bool(sandbox.records(provider="card_a")), timeout=30, what="the charge made at card_a")
        worker.kill()
        deliveries = hook.wait_for(
            lambda ds: {"charge.authorized", "charge.captured"} <= {d["event"]["type"] for d in ds}, timeout=10
        )
    start_worker()
    for delivery in deliveries:  # as the provider sent them: authorized first
        assert forward(delivery) == 200
    wait_for(
        lambda: not ProviderEvent.objects.filter(processed_at=None).exists(),
        timeout=30,
        what="the provider's webhooks applied",
    )
    assert payment(payment_id).status == PaymentStatus.SUCCEEDED
    with override_settings(PSP_ATTEMPT_STALE_SECONDS=0.5):
        settle([payment_id])
    (attempt,) = attempts(payment_id)
    assert (attempt.outcome, attempt.review_reason) == ("succeeded", "")
    one_charge_each(sandbox, [payment_id])
    assert JournalTransaction.objects.filter(reference=f"payment:{payment_id}:capture").count() == 1
    assert verify_ledger().ok
