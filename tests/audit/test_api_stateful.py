"""Random merchant histories through the live platform, checked by a model and by the independent auditor.

A hypothesis state machine whose steps are merchant API calls over HTTP to a real gunicorn, executed by a real
Celery worker against the PSP sandbox (its webhooks reach the platform over HTTP too): card payments approved,
declined, authorized for manual capture and charged back (the sandbox's chargeback card), UPI payments, captures in
full and in part, cancels, refunds (partial, the rest, more than is left), dispute acceptances, payouts (within and
above the available balance), cancels of payouts, idempotent replays, keys reused with another body, and two
clients at once. The test process plays the relay and beat (releases, the simulated bank, the janitor, the
provider-event sweep).

After every step: ``GET /v1/balance`` equals the ledger summed from its entries, pending is never negative, no
payment has more refunded than captured. At the end of every example, once the platform drained: each object is
where the model says, the merchant's balance is exactly what it earned less what it gave back and was paid, and
the auditor (``audit.auditor.audit_run``: provider's truth, ledger, balances, events, idempotency) finds nothing.

CI runs a bounded, derandomized number of examples; new and longer histories (docs/reliability.md):
``LEDGERLINE_API_STATEFUL_EXPLORE=1 LEDGERLINE_API_STATEFUL_EXAMPLES=30 pytest tests/audit/test_api_stateful.py``
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import current_app
from django.conf import settings as django_settings
from django.db.models.functions import Now
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from audit.auditor import audit_run
from audit.books import merchant_balances_recomputed
from payments.enums import AttemptOutcome, PayoutStatus
from payments.models import OutboxMessage, Payment, PaymentAttempt, ProviderEvent, Refund, WebhookDelivery
from payments.services.attempts.janitor import attempts_janitor
from payments.services.funds import funds_release_due
from payments.services.merchants import merchant_create
from payments.services.outbox_relay import outbox_relay_drain
from payments.services.payouts import payouts_advance_due
from payments.services.provider_events import provider_events_sweep
from tests import processes, psp_sandbox

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("LEDGERLINE_API_STATEFUL_EXAMPLES", "5"))
STEPS = int(os.environ.get("LEDGERLINE_API_STATEFUL_STEPS", "25"))
# CI replays the same histories on every run; exploring new ones is a choice (LEDGERLINE_API_STATEFUL_EXPLORE=1).
EXPLORE = os.environ.get("LEDGERLINE_API_STATEFUL_EXPLORE") == "1"
QUEUES = "celery,psp.card_a,psp.card_b,psp.card_c,psp.upi,webhooks"
SETTLE_TIMEOUT = 90.0

# What happened, by operation and answer, over the whole run (printed at the end: a clean run is clean because things
# happened, not because nothing did).
TALLY: Counter[str] = Counter()
CARDS = {
    "approve": "4242424242424242",
    "decline": "4000000000000002",
    "manual": "5555555555554444",
    "chargeback": "4000000000000259",
}
UPI_PAYERS = {"upi_success": "success@upi", "upi_fail": "failure@upi"}
FEES = {"usd": (290, 30), "inr": (30, 0)}  # the platform's default price per method (PRICING_DEFAULTS)
DISPUTE_FEE = 1_500  # the sandbox acquirers' chargeback fee
OPEN = ("processing", "requires_action")
# How often each operation is drawn. One rule draws them (hypothesis' swarm testing would otherwise switch whole
# rules off per example, and a bounded run is too short for that to even out).
# (Refunds first: hypothesis leans towards the first choice, and a refund with nothing to refund costs nothing.)
OPERATIONS = {
    "refund": 5,
    "capture": 3,
    "card_payment": 5,
    "upi_payment": 2,
    "one_payment_sent_twice_at_once": 1,
    "cancel": 2,
    "two_refunds_of_the_rest_at_once": 1,
    "accept_dispute": 1,
    "time_passes": 2,
    "payout": 3,
    "two_payouts_of_everything_at_once": 1,
    "cancel_payout": 1,
    "replay": 3,
    "key_reused_with_another_body": 2,
}
WEIGHTED_OPERATIONS = [name for name, weight in OPERATIONS.items() for _ in range(weight)]


def fee(currency: str, amount: int) -> int:
    """The platform's fee, computed here from the published price (halves rounded up), not by its code."""
    bps, fixed = FEES[currency]
    return min(amount, (amount * bps + 5_000) // 10_000 + fixed)


# --- the platform: gunicorn, one worker on every queue, the session's sandbox posting its webhooks to gunicorn ----
@dataclass
class Platform:
    web: str
    sandbox: psp_sandbox.Client
    merchants: dict[str, str] = field(default_factory=dict)  # merchant id -> secret key

    def client(self, secret: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.web, headers=headers, timeout=30)

    def pump(self) -> None:
        """The relay's work, in this process: committed outbox rows become events, deliveries and worker tasks."""
        outbox_relay_drain()

    def wait(self, done: Callable[[], bool], what: str, *, timeout: float = SETTLE_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        beat = 0.0
        while time.monotonic() < deadline:
            self.pump()
            if done():
                return
            if time.monotonic() - beat > 1.5:
                beat = time.monotonic()
                self.beat()
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def beat(self) -> None:
        """What beat would do while a client waits: the sandbox's clock moves on (UPI payers decide, refunds settle),
        the janitor looks at what is due, provider webhooks still unapplied are handed out again."""
        self.sandbox.advance(3)
        attempts_janitor()
        provider_events_sweep(now=timezone.now() + timedelta(seconds=django_settings.PROVIDER_EVENT_RETRY_SECONDS))

    def open_work(self) -> dict[str, int]:
        return {
            "attempts": PaymentAttempt.objects.filter(
                outcome__in=[AttemptOutcome.PENDING, AttemptOutcome.UNKNOWN]
            ).count(),
            "outbox": OutboxMessage.objects.filter(published_at=None).count(),
            "payments": Payment.objects.filter(status__in=OPEN).count(),
            "refunds": Refund.objects.filter(status="pending").count(),
            "provider_events": ProviderEvent.objects.filter(processed_at=None).count(),
            "deliveries": WebhookDelivery.objects.filter(status="pending").count(),
        }

    def drain(self) -> None:
        """Until nothing is open: every attempt final, every outbox row published, every provider webhook applied,
        every merchant webhook delivered."""
        PaymentAttempt.objects.exclude(next_check_at=None).update(next_check_at=Now())
        self.wait(lambda: not any(self.open_work().values()), "the platform to drain")
        left = self.open_work()
        assert not any(left.values()), left


class Receiver(BaseHTTPRequestHandler):
    """The merchants' webhook endpoint: acknowledges every delivery."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def receiver_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()


@pytest.fixture
def platform(worker_env: dict[str, str], sandbox: psp_sandbox.Client, tmp_path: Path) -> Iterator[Platform]:
    env = {
        **worker_env,
        "LEDGERLINE_API_RATE": "100000/s",
        "WEB_CONCURRENCY": "2",
        # Captured money is pending until the release the machine runs ("time passes"), not for two days.
        "BALANCE_PENDING_SECONDS": "0",
        "PSP_READ_TIMEOUT": "5",
        "PSP_CONNECT_TIMEOUT": "1",
        "WEBHOOKS_RETRY_BASE_SECONDS": "1",
    }
    # Tasks earlier tests of the session left on the broker name rows their flush removed: not this worker's work.
    with current_app.connection_for_write() as connection:
        for queue in QUEUES.split(","):
            connection.default_channel.queue_purge(queue)
    port = processes.free_port()
    web_log, worker_log = tmp_path / "gunicorn.log", tmp_path / "worker.log"
    web = processes.start(
        [str(processes.BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
        {**env, "PORT": str(port)},
        web_log,
    )
    worker = processes.start(
        [
            str(processes.BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--queues",
            QUEUES,
            "--pool",
            "threads",
            "--concurrency",
            "4",
            "--loglevel",
            "INFO",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--hostname",
            f"stateful-{uuid.uuid4().hex[:8]}@%h",
        ],
        env,
        worker_log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until(lambda: processes.http_ok(f"{base}/healthz"), timeout=60, what="gunicorn", log=web_log)
        # The providers' webhooks (UPI results, chargebacks, refunds settled later) reach the platform over HTTP.
        sandbox.control("/webhooks", {"template": f"{base}/psp/webhooks/{{provider}}"})
        yield Platform(web=base, sandbox=sandbox)
    finally:
        processes.stop(worker)
        processes.stop(web)
        for log in (web_log, worker_log):
            text = log.read_text(errors="replace")
            assert "Traceback" not in text, f"{log.name}:\n{text[-4000:]}"


# --- the model ------------------------------------------------------------------------------------------------
@dataclass
class PaymentModel:
    kind: str
    amount: int
    currency: str
    captured: int | None = None  # what a manual capture took
    canceled: bool = False
    refunds: dict[str, int] = field(default_factory=dict)
    dispute_accepted: bool = False

    @property
    def manual(self) -> bool:
        return self.kind == "manual"

    def final_status(self) -> str:
        if self.canceled:
            return "canceled"
        if self.kind in ("decline", "upi_fail"):
            return "failed"
        if self.manual and self.captured is None:
            return "requires_capture"
        return "succeeded"

    def amount_captured(self) -> int:
        if self.final_status() != "succeeded":
            return 0
        return self.amount if self.captured is None else self.captured

    def refundable(self) -> int:
        lost = self.amount_captured() if self.kind == "chargeback" and self.dispute_accepted else 0
        return self.amount_captured() - sum(self.refunds.values()) - lost


@dataclass(frozen=True)
class Sent:
    """A POST sent with an Idempotency-Key, and what it answered."""

    path: str
    body: dict[str, Any]
    key: str
    status: int
    content: bytes


class ApiMachine(RuleBasedStateMachine):
    platform: Platform
    receiver_url: str

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, PaymentModel] = {}
        self.payout_model: dict[str, tuple[int, str, str]] = {}  # id -> amount, currency, status
        self.disputes: dict[str, str] = {}  # payment id -> dispute id
        self.n = itertools.count(1)
        self.sent: list[Sent] = []  # every keyed POST, for the replays

    # --- helpers -------------------------------------------------------------------------------------------------
    def key(self, what: str) -> str:
        return f"{what}-{self.run}-{next(self.n)}"

    def post(self, path: str, body: dict[str, Any], *, key: str | None = None) -> httpx.Response:
        return self.api.post(path, json=body, headers={"Idempotency-Key": key} if key else {})

    def post_keyed(self, path: str, body: dict[str, Any], what: str) -> tuple[httpx.Response, Sent]:
        key = self.key(what)
        if "metadata" in body:  # the auditor then sees two objects under one key, whatever became of the key's row
            body["metadata"]["idempotency_key"] = key
        response = self.post(path, body, key=key)
        assert response.status_code < 500, response.text
        TALLY[f"{what} {response.status_code}"] += 1
        sent = Sent(path, body, key, response.status_code, response.content)
        self.sent.append(sent)
        return response, sent

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.api.get(path, params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def error_code(self, response: httpx.Response, status: int = 400) -> str:
        assert response.status_code == status, response.text
        return str(response.json()["error"]["code"])

    def settled(self, payment_id: str) -> dict[str, Any]:
        """The payment once the worker is done with it (and, for the chargeback card, once its dispute opened)."""
        model = self.model[payment_id]
        found: dict[str, Any] = {}

        def done() -> bool:
            found.update(self.get(f"/v1/payments/{payment_id}"))
            if found["status"] in OPEN:
                return False
            return not (model.kind == "chargeback" and found["status"] == "succeeded" and not found["disputed"])

        self.platform.wait(done, f"{payment_id} ({model.kind}) to settle")
        if model.kind == "chargeback" and payment_id not in self.disputes:
            (dispute,) = [d for d in self.get("/v1/disputes", limit=100)["data"] if d["payment"] == payment_id]
            self.disputes[payment_id] = dispute["id"]
        return found

    def balance(self) -> dict[str, dict[str, int]]:
        body = self.get("/v1/balance")
        return {side: {m["currency"]: m["amount"] for m in body[side]} for side in ("available", "pending")}

    # --- setup ---------------------------------------------------------------------------------------------------
    @initialize()
    def merchant(self) -> None:
        self.run = uuid.uuid4().hex[:8]
        merchant, issued = merchant_create(name=f"Stateful {self.run}", email=f"ops-{self.run}@stateful.test")
        self.merchant_id = merchant.id
        self.platform.merchants[merchant.id] = issued.secret
        self.api = self.platform.client(issued.secret)
        endpoint = self.post("/v1/webhook_endpoints", {"url": self.receiver_url, "enabled_events": ["*"]})
        assert endpoint.status_code == 200, endpoint.text

    def teardown(self) -> None:
        if not hasattr(self, "api"):
            return
        try:
            self.platform.drain()
            self.everything_is_where_the_model_says()
            report = audit_run(
                sandbox_url=self.platform.sandbox.url,
                api=self.platform.client(),
                api_keys=self.platform.merchants,
                grace_seconds=0,
            )
            assert report.ok, report.render()
            TALLY["audited clean"] += 1
            assert report.counts["balances_asked_over_api"] == len(self.platform.merchants)
        finally:
            self.api.close()

    # --- payments ------------------------------------------------------------------------------------------------
    # --- the one rule: an operation drawn by weight, then its arguments -------------------------------------------
    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(WEIGHTED_OPERATIONS), label="operation")
        getattr(self, operation)(data)

    def payment(self, data: st.DataObject, wanted: Callable[[PaymentModel], bool]) -> str | None:
        """A payment of this example, preferably one ``wanted`` (most operations are refused on the others, which is
        worth trying too, less often)."""
        if not self.model:
            return None
        fitting = sorted(p for p, m in self.model.items() if wanted(m))
        if fitting and data.draw(st.integers(0, 3), label="fitting") > 0:
            return data.draw(st.sampled_from(fitting), label="payment")
        return data.draw(st.sampled_from(sorted(self.model)), label="payment")

    # --- payments --------------------------------------------------------------------------------------------------
    def card_payment(self, data: st.DataObject) -> None:
        # Approvals most often: they are what captures, refunds and payouts work on.
        kind = data.draw(st.sampled_from(["approve", "approve", "manual", "manual", "decline", "chargeback"]))
        amount = data.draw(st.integers(min_value=500, max_value=50_000), label="amount")
        card = {"number": CARDS[kind], "exp_month": 12, "exp_year": 2039, "cvc": "123"}
        body = {
            "amount": amount,
            "currency": "usd",
            "confirm": True,
            "capture_method": "manual" if kind == "manual" else "automatic",
            "payment_method": {"type": "card", "card": card},
            "metadata": {},
        }
        response, _ = self.post_keyed("/v1/payments", body, "pay")
        assert response.status_code == 200, response.text
        created = response.json()
        assert (created["status"], created["amount"], created["amount_captured"]) == ("processing", amount, 0)
        self.model[created["id"]] = PaymentModel(kind, amount, "usd")

    def upi_payment(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(sorted(UPI_PAYERS)), label="kind")
        amount = data.draw(st.integers(min_value=100, max_value=90_000), label="amount")
        body = {
            "amount": amount,
            "currency": "inr",
            "confirm": True,
            "payment_method": {"type": "upi", "upi": {"flow": "intent"}},
            "metadata": {"sandbox_payer_vpa": UPI_PAYERS[kind]},
        }
        response, _ = self.post_keyed("/v1/payments", body, "upi")
        assert response.status_code == 200, response.text
        created = response.json()
        assert created["status"] == "processing"
        self.model[created["id"]] = PaymentModel(kind, amount, "inr")

    def capture(self, data: st.DataObject) -> None:
        payment_id = self.payment(data, lambda m: m.final_status() == "requires_capture")
        if payment_id is None:
            return
        how = data.draw(st.sampled_from(["full", "part", "more_than_authorized"]), label="how")
        model = self.model[payment_id]
        self.settled(payment_id)
        body: dict[str, Any] = {}
        if how == "part":
            body["amount_to_capture"] = model.amount // 2
        elif how == "more_than_authorized":
            body["amount_to_capture"] = model.amount + 1
        response, _ = self.post_keyed(f"/v1/payments/{payment_id}/capture", body, "capture")
        if model.final_status() != "requires_capture":
            assert self.error_code(response) == "payment_unexpected_state"
        elif how == "more_than_authorized":
            assert self.error_code(response) == "amount_too_large"
        else:
            assert response.status_code == 200, response.text
            model.captured = body.get("amount_to_capture", model.amount)
            assert (response.json()["status"], response.json()["amount_captured"]) == ("succeeded", model.captured)
            if data.draw(st.booleans(), label="refund at once"):
                # Before the worker has told the provider about the capture (defect 9 in docs/reliability.md).
                self.refund_now(payment_id, "third")
                TALLY["refund right after capture"] += 1

    def cancel(self, data: st.DataObject) -> None:
        payment_id = self.payment(data, lambda m: m.final_status() == "requires_capture")
        if payment_id is None:
            return
        model = self.model[payment_id]
        self.settled(payment_id)
        response, _ = self.post_keyed(f"/v1/payments/{payment_id}/cancel", {}, "cancel")
        if model.final_status() == "requires_capture":
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "canceled"
            model.canceled = True
        else:
            assert self.error_code(response) == "payment_unexpected_state"

    # --- refunds and disputes -------------------------------------------------------------------------------------
    def refund(self, data: st.DataObject) -> None:
        payment_id = self.payment(data, lambda m: m.final_status() == "succeeded")
        if payment_id is None:
            return
        how = data.draw(st.sampled_from(["third", "rest", "more_than_left"]), label="how")
        self.settled(payment_id)
        self.refund_now(payment_id, how)

    def refund_now(self, payment_id: str, how: str) -> None:
        model = self.model[payment_id]
        left = model.refundable()
        body: dict[str, Any] = {"payment": payment_id, "metadata": {}}
        if how == "third":
            body["amount"] = max(1, left // 3)
        elif how == "more_than_left":
            body["amount"] = left + 1
        response, _ = self.post_keyed("/v1/refunds", body, "refund")
        if model.final_status() != "succeeded":
            assert self.error_code(response) == "payment_unexpected_state"
        elif model.kind == "chargeback" and not model.dispute_accepted:
            assert self.error_code(response) == "charge_disputed"
        elif left <= 0:
            assert self.error_code(response) == "charge_already_refunded"
        elif how == "more_than_left":
            assert self.error_code(response) == "amount_exceeds_refundable"
        else:
            assert response.status_code == 200, response.text
            refund = response.json()
            assert (refund["status"], refund["amount"]) == ("pending", body.get("amount", left))
            model.refunds[refund["id"]] = refund["amount"]

    def accept_dispute(self, data: st.DataObject) -> None:
        payment_id = self.payment(data, lambda m: m.kind == "chargeback")
        if payment_id is None:
            return
        model = self.model[payment_id]
        if model.kind != "chargeback" or model.final_status() != "succeeded":
            return
        self.settled(payment_id)
        dispute_id = self.disputes[payment_id]
        response = self.post(f"/v1/disputes/{dispute_id}/accept", {})
        if model.dispute_accepted:
            assert self.error_code(response) == "dispute_unexpected_state"
            return
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "accepted"
        model.dispute_accepted = True
        TALLY["dispute accepted"] += 1

    # --- balance and payouts ----------------------------------------------------------------------------------------
    def time_passes(self, data: st.DataObject) -> None:
        """The release (beat): captured money becomes available; the bank moves payouts along."""
        TALLY["time passes"] += 1
        funds_release_due()
        with override_settings(PAYOUT_TRANSIT_SECONDS=0):
            payouts_advance_due()
        for payout_id, (amount, currency, status) in list(self.payout_model.items()):
            if status == PayoutStatus.PENDING:
                self.payout_model[payout_id] = (amount, currency, PayoutStatus.PAID)

    def currency(self, data: st.DataObject) -> str:
        """Mostly one the merchant has money in: a payout in a currency it never earned is refused, and dull."""
        earned = sorted(c for c, amount in self.balance()["available"].items() if amount > 0)
        if earned and data.draw(st.integers(0, 3), label="earned") > 0:
            return data.draw(st.sampled_from(earned), label="currency")
        return data.draw(st.sampled_from(["usd", "inr"]), label="currency")

    def payout(self, data: st.DataObject) -> None:
        currency = self.currency(data)
        how = data.draw(st.sampled_from(["half", "all", "too_much"]), label="how")
        if data.draw(st.booleans(), label="released first"):
            self.time_passes(data)
        available = self.balance()["available"].get(currency, 0)
        amount = {"half": available // 2, "all": available, "too_much": available + 1}[how]
        amount = max(amount, 1)
        response, _ = self.post_keyed("/v1/payouts", {"amount": amount, "currency": currency, "metadata": {}}, "po")
        if amount > available:
            assert self.error_code(response) == "insufficient_funds"
            return
        if response.status_code == 400:
            # Money moved between the two requests (a chargeback the provider reported meanwhile): refused, rightly.
            assert self.error_code(response) == "insufficient_funds"
            assert self.balance()["available"].get(currency, 0) < amount
            return
        assert response.status_code == 200, response.text
        payout = response.json()
        assert (payout["status"], payout["amount"]) == ("pending", amount)
        self.payout_model[payout["id"]] = (amount, currency, PayoutStatus.PENDING)

    def cancel_payout(self, data: st.DataObject) -> None:
        if not self.payout_model:
            return
        payout_id = data.draw(st.sampled_from(sorted(self.payout_model)), label="payout")
        amount, currency, status = self.payout_model[payout_id]
        response = self.post(f"/v1/payouts/{payout_id}/cancel", {})
        if status == PayoutStatus.PENDING:
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "canceled"
            self.payout_model[payout_id] = (amount, currency, PayoutStatus.CANCELED)
            TALLY["payout canceled"] += 1
        else:
            assert self.error_code(response) == "payment_unexpected_state"

    # --- two clients at once ----------------------------------------------------------------------------------------
    def at_once(self, *requests: tuple[str, dict[str, Any], str]) -> list[httpx.Response]:
        """The requests (path, body, key) sent concurrently, as two clients (or a client and its retry) would."""
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            return list(pool.map(lambda r: self.post(r[0], r[1], key=r[2]), requests))

    def two_refunds_of_the_rest_at_once(self, data: st.DataObject) -> None:
        payment_id = self.payment(data, lambda m: m.final_status() == "succeeded" and m.kind != "chargeback")
        if payment_id is None:
            return
        model = self.model[payment_id]
        self.settled(payment_id)
        left = model.refundable()
        if model.final_status() != "succeeded" or model.kind == "chargeback" or left <= 0:
            return
        keys = [self.key("refund"), self.key("refund")]
        answers = self.at_once(
            *[("/v1/refunds", {"payment": payment_id, "metadata": {"idempotency_key": k}}, k) for k in keys]
        )
        ok = [a for a in answers if a.status_code == 200]
        assert len(ok) == 1, [a.text for a in answers]
        (refused,) = [a for a in answers if a.status_code != 200]
        assert self.error_code(refused) == "charge_already_refunded"
        assert ok[0].json()["amount"] == left
        model.refunds[ok[0].json()["id"]] = left
        TALLY["two refunds at once"] += 1

    def two_payouts_of_everything_at_once(self, data: st.DataObject) -> None:
        currency = self.currency(data)
        available = self.balance()["available"].get(currency, 0)
        if available <= 0:
            return
        keys = [self.key("po"), self.key("po")]
        answers = self.at_once(
            *[
                ("/v1/payouts", {"amount": available, "currency": currency, "metadata": {"idempotency_key": k}}, k)
                for k in keys
            ]
        )
        ok = [a for a in answers if a.status_code == 200]
        # One of them; none only if a chargeback took money in between.
        assert len(ok) == 1 or (not ok and self.balance()["available"].get(currency, 0) < available), [
            a.text for a in answers
        ]
        for refused in (a for a in answers if a.status_code != 200):
            assert self.error_code(refused) == "insufficient_funds"
        TALLY["two payouts at once"] += 1
        if not ok:
            return
        payout = ok[0].json()
        self.payout_model[payout["id"]] = (available, currency, PayoutStatus.PENDING)

    def one_payment_sent_twice_at_once(self, data: st.DataObject) -> None:
        """A client retrying while its first request still runs: one payment, never two."""
        amount = data.draw(st.integers(min_value=500, max_value=50_000), label="amount")
        key = self.key("pay")
        card = {"number": CARDS["approve"], "exp_month": 12, "exp_year": 2039, "cvc": "123"}
        body = {
            "amount": amount,
            "currency": "usd",
            "confirm": True,
            "payment_method": {"type": "card", "card": card},
            "metadata": {"idempotency_key": key},
        }
        answers = self.at_once(("/v1/payments", body, key), ("/v1/payments", body, key))
        ok = [a for a in answers if a.status_code == 200]
        assert ok, [a.text for a in answers]
        for other in answers:
            if other.status_code != 200:
                assert self.error_code(other, 409) == "idempotency_key_in_use"
        assert len({a.json()["id"] for a in ok}) == 1, [a.text for a in answers]
        if len(ok) == 2:
            assert ok[0].content == ok[1].content
        TALLY[f"one payment sent twice at once: {len(ok)} answered"] += 1
        payment_id = str(ok[0].json()["id"])
        self.model[payment_id] = PaymentModel("approve", amount, "usd")
        self.sent.append(Sent("/v1/payments", body, key, 200, ok[0].content))

    # --- idempotency ------------------------------------------------------------------------------------------------
    def replay(self, data: st.DataObject) -> None:
        """A client retry after a lost response: the same answer, byte for byte, and nothing done twice."""
        if not self.sent:
            return
        sent = data.draw(st.sampled_from(self.sent), label="request")
        response = self.post(sent.path, sent.body, key=sent.key)
        TALLY["replay"] += 1
        assert response.status_code == sent.status, response.text
        if response.headers.get("Idempotent-Replayed") == "true":
            assert response.content == sent.content
        else:  # a request refused before it ran (validation) is not stored: it runs again, and is refused again
            assert sent.status == 400, (sent, response.text)
            assert response.json()["error"]["code"] == json.loads(sent.content)["error"]["code"]

    def key_reused_with_another_body(self, data: st.DataObject) -> None:
        """The same key with another request is refused, and does nothing."""
        answered = [s for s in self.sent if s.status == 200]
        if not answered:
            return
        sent = data.draw(st.sampled_from(answered), label="request")
        response = self.post(sent.path, another_body(sent), key=sent.key)
        TALLY["key reused with another body"] += 1
        assert self.error_code(response) == "idempotency_key_reused"

    # --- what holds after every step ---------------------------------------------------------------------------------
    @invariant()
    def the_balance_the_api_shows_is_the_ledgers(self) -> None:
        if not hasattr(self, "api"):
            return
        for _ in range(5):  # the worker may post between the reads: compare an answer that held still
            before = self.balance()
            entries = merchant_balances_recomputed(self.merchant_id)
            if self.balance() == before:
                break
        nonzero = {side: {c: a for c, a in amounts.items() if a} for side, amounts in before.items()}
        assert nonzero == {side: {c: a for c, a in amounts.items() if a} for side, amounts in entries.items()}
        assert all(amount >= 0 for amount in before["pending"].values()), before

    @invariant()
    def nothing_is_refunded_beyond_what_was_captured(self) -> None:
        if not hasattr(self, "api"):
            return
        for payment in self.get("/v1/payments", limit=100)["data"]:
            assert 0 <= payment["amount_refunded"] <= payment["amount_captured"] <= payment["amount"], payment

    # --- checked once the platform is quiet (at the end of each example) -------------------------------------------
    def everything_is_where_the_model_says(self) -> None:
        expected: dict[str, int] = {}
        for payment_id, model in self.model.items():
            found = self.get(f"/v1/payments/{payment_id}")
            assert (found["status"], found["amount_captured"]) == (model.final_status(), model.amount_captured()), (
                model,
                found,
            )
            assert found["amount_refunded"] == sum(model.refunds.values()), (model, found)
            captured = model.amount_captured()
            net = captured - fee(model.currency, captured) - sum(model.refunds.values())
            if model.kind == "chargeback" and captured:
                net -= model.amount + DISPUTE_FEE
            expected[model.currency] = expected.get(model.currency, 0) + net
            for refund_id in model.refunds:
                assert self.get(f"/v1/refunds/{refund_id}")["status"] == "succeeded"
        for payout_id, (amount, currency, status) in self.payout_model.items():
            assert self.get(f"/v1/payouts/{payout_id}")["status"] == status
            if status != PayoutStatus.CANCELED:
                expected[currency] = expected.get(currency, 0) - amount
        disputes = {d["payment"]: d for d in self.get("/v1/disputes", limit=100)["data"]}
        charged_back = {p: m for p, m in self.model.items() if m.kind == "chargeback" and m.amount_captured()}
        assert sorted(disputes) == sorted(charged_back)
        for payment_id, model in charged_back.items():
            found = disputes[payment_id]
            assert (found["amount"], found["fee"]) == (model.amount, DISPUTE_FEE), found
            assert found["status"] == ("accepted" if model.dispute_accepted else "needs_response"), found
        balance = self.balance()
        total = {
            c: balance["available"].get(c, 0) + balance["pending"].get(c, 0)
            for c in {*balance["available"], *balance["pending"]}
        }
        assert {c: a for c, a in total.items() if a} == {c: a for c, a in expected.items() if a}


def another_body(sent: Sent) -> dict[str, Any]:
    """A valid request on the same path that differs from the one first sent under the key."""
    body = dict(sent.body)
    if sent.path.endswith("/cancel"):
        body["cancellation_reason"] = "duplicate"
    elif sent.path.endswith("/capture"):
        body["amount_to_capture"] = 2 if body.get("amount_to_capture") == 1 else 1
    else:  # a payment, a refund or a payout
        body["amount"] = int(body.get("amount") or 1) + 1
    return body


@pytest.mark.timeout(450)  # about two and a half minutes here; room for a busier machine
def test_random_api_histories_keep_the_books_the_provider_and_the_auditor_in_agreement(platform, receiver_url):
    ApiMachine.platform = platform
    ApiMachine.receiver_url = receiver_url
    run_state_machine_as_test(
        ApiMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=not EXPLORE,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print("\napi stateful:", dict(sorted(TALLY.items())))  # noqa: T201 - what the run did, for docs/reliability.md
