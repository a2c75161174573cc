"""Card numbers and secrets are redacted from log lines, in the web process and in a Celery worker alike."""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx
import pytest

from core.redaction import redact_text, redact_value
from core.tasks import ping
from tests import processes
from tests.conftest import json_lines

VISA = "4242424242424242"
API_KEY = "sk_test_Zr8vQk2Lm9Xw4Tb7Hc1N"
WEBHOOK_SECRET = "whsec_9fJ2kL8mQ4rT6vX1zB3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"card {VISA} declined", "card [card ****4242] declined"),
        ("card 4000-0566-5566-5556 ok", "card [card ****5556] ok"),
        ("?n=4242+4242+4242+4242&m=4242%204242%204242%204242", "?n=[card ****4242]&m=[card ****4242]"),
        ("4242 4242 4242 4242 12 39", "[card ****4242] 12 39"),  # the expiry after it does not hide the number
        ("order 1234567890123 for 2000", "order 1234567890123 for 2000"),  # fails Luhn: an id, not a card
        ("req 12345678-1234-1234-1234-123456789012", "req 12345678-1234-1234-1234-123456789012"),
        (f"key {API_KEY} used", "key sk_test_[redacted] used"),
        (f"signing with {WEBHOOK_SECRET}", "signing with whsec_[redacted]"),
        ("Authorization: Bearer abcDEF123456.xyz", "Authorization: Bearer [redacted]"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [redacted]"),
        ("{'number': 'x', 'cvc': '987'}", "{'number': 'x', 'cvc': '[redacted]'}"),
        ("?cvv=987&amount=10", "?cvv=[redacted]&amount=10"),
    ],
)
def test_text_redaction(text, expected):
    assert redact_text(text) == expected


def test_fields_named_as_secrets_are_redacted_at_any_depth():
    event = {
        "event": "tokenize",
        "payment_method": {"type": "card", "card": {"number": VISA, "cvc": "123", "exp_month": 12}},
        "headers": [{"Authorization": "Bearer x"}],
        "amount": 2000,
        "pan_int": int(VISA),
    }
    assert redact_value(event) == {
        "event": "tokenize",
        "payment_method": {"type": "card", "card": {"number": "[redacted]", "cvc": "[redacted]", "exp_month": 12}},
        "headers": [{"Authorization": "[redacted]"}],
        "amount": 2000,
        "pan_int": "[card ****4242]",
    }


def _assert_clean(text: str) -> None:
    for secret in (VISA, "4242 4242 4242 4242", "4242+4242", API_KEY, WEBHOOK_SECRET):
        assert secret not in text, f"{secret!r} leaked into the log"
    # The CVC next to its name, however quoted or escaped (a bare "987" may be part of a task's run time).
    assert not re.search(r"cvc\W{0,8}987", text), "the CVC leaked into the log"


def test_a_web_process_redacts_its_request_lines(worker_env, tmp_path):
    port = processes.free_port()
    log = tmp_path / "web.log"
    proc = processes.start(
        [
            str(processes.BIN / "gunicorn"),
            "config.wsgi",
            "--config",
            "python:config.gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        {**worker_env, "WEB_CONCURRENCY": "1"},
        log,
    )
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        processes.wait_until(answers, timeout=60, what="gunicorn", log=log)
        # Someone puts a card number, a secret key and a webhook secret in a URL; django_structlog logs the URL.
        response = httpx.get(
            f"http://127.0.0.1:{port}/v1/payments/pay_x",
            params={
                "card": VISA,
                "spaced": "4242 4242 4242 4242",
                "key": API_KEY,
                "whsec": WEBHOOK_SECRET,
                "cvc": "987",
            },
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
        assert response.status_code == 401
        time.sleep(0.5)
    finally:
        processes.stop(proc)
    text = log.read_text()
    lines = [line for line in json_lines(text) if str(line.get("request", "")).startswith("GET /v1/payments/pay_x")]
    assert lines, text[-3000:]
    assert "[card ****4242]" in str(lines[0]["request"])
    assert "sk_test_[redacted]" in str(lines[0]["request"])
    # The payment the URL names is on the request's lines.
    assert any(line.get("payment_id") == "pay_x" for line in json_lines(text))
    _assert_clean(text)


@pytest.mark.worker
@pytest.mark.django_db
def test_a_worker_redacts_its_task_lines_and_celerys_own(celery_worker_process):
    marker = uuid.uuid4().hex[:8]
    payload = f"{marker} 4242 4242 4242 4242 {API_KEY} {WEBHOOK_SECRET} {{'cvc': '987'}}"
    assert ping.delay(payload).get(timeout=30)["pong"] == payload  # the task itself got the real value
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in json_lines(celery_worker_process.read_text()) if marker in json.dumps(line)]
        # Our structlog line (payload=...) and Celery's own "Task ... succeeded ... {'pong': ...}" line.
        if any(line.get("event") == "ping_received" for line in lines) and any(
            "succeeded" in str(line.get("event")) for line in lines
        ):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(celery_worker_process.read_text()[-3000:])
    received = next(line for line in lines if line.get("event") == "ping_received")
    assert (
        received["payload"] == f"{marker} [card ****4242] sk_test_[redacted] whsec_[redacted] {{'cvc': '[redacted]'}}"
    )
    _assert_clean(json.dumps(lines))
