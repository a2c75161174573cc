"""The real thing: two relay processes, a real webhooks worker on Redis, a receiver on 127.0.0.1."""

from __future__ import annotations

import sys
import uuid
from collections import Counter

import pytest
from django.core.management import call_command

from ledgerline.webhooks import verify
from payments.models import Event, OutboxMessage
from tests import processes
from tests.payments.webhook_support import add_events, capture_tasks, endpoint, merchant, receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_relay_command_once_publishes_what_is_due(monkeypatch):
    capture_tasks(monkeypatch)
    add_events(merchant(), 5)
    call_command("outbox_relay", "--once", "--batch-size", "2")
    assert Event.objects.count() == 5
    assert not OutboxMessage.objects.filter(published_at=None).exists()


@pytest.mark.worker
def test_two_relays_and_a_worker_deliver_every_event_signed(worker_env, tmp_path):
    with receiver() as hook:
        acme = merchant()
        issued = endpoint(acme, hook.url)
        rows = add_events(acme, 60)
        started = [
            processes.start(
                [sys.executable, "manage.py", "outbox_relay", "--batch-size", "7"],
                worker_env,
                tmp_path / f"relay{i}.log",
            )
            for i in range(2)
        ]
        worker_log = tmp_path / "webhooks.log"
        started.append(
            processes.start(
                [
                    str(processes.BIN / "celery"),
                    "-A",
                    "config",
                    "worker",
                    "--queues",
                    "webhooks",
                    "--pool",
                    "threads",
                    "--concurrency",
                    "4",
                    "--hostname",
                    f"webhooks-{uuid.uuid4().hex[:8]}@%h",
                ],
                worker_env,
                worker_log,
            )
        )
        try:
            hook.wait_for(60, timeout=90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{worker_log.read_text()[-3000:]}") from None
        finally:
            for proc in started:
                processes.stop(proc)

    counts = Counter(Event.objects.values_list("outbox_id", flat=True))
    assert set(counts) == {row.id for row in rows}
    assert set(counts.values()) == {1}
    delivered = {r.headers["Ledgerline-Event-Id"] for r in hook.requests}
    assert delivered == set(Event.objects.values_list("id", flat=True))
    for request in hook.requests:
        assert verify(request.body, request.headers["Ledgerline-Signature"], issued.secret)["id"] in delivered
