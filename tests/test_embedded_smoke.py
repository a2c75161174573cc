"""The embedded shape, end to end, as `make run` starts it: SQLite, file-system broker, no services at all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests import processes

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def embedded_platform(tmp_path_factory):
    var = tmp_path_factory.mktemp("embedded-var")
    port, sandbox_port = processes.free_port(), processes.free_port()
    env = processes.clean_env(LEDGERLINE_VAR_DIR=str(var), SANDBOX_PORT=str(sandbox_port))
    manage = [sys.executable, "manage.py"]
    for step in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
        done = subprocess.run(manage + step, cwd=processes.ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
    seed_output = done.stdout
    log = var / "platform.log"
    proc = processes.start([*manage, "run_platform", "--port", str(port)], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until(lambda: processes.http_ok(f"{base}/healthz"), timeout=60, what="web", log=log)
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        processes.wait_until(lambda: processes.http_ok(f"{sandbox}/healthz"), timeout=60, what="sandbox", log=log)
        yield {
            "base": base,
            "sandbox": sandbox,
            "env": env,
            "var": var,
            "seed_output": seed_output,
            "proc": proc,
            "log": log,
        }
    finally:
        processes.stop(proc)


def test_seed_prints_the_demo_key_and_it_authenticates(embedded_platform):
    secret = next(
        line.split(": ", 1)[1]
        for line in embedded_platform["seed_output"].splitlines()
        if line.startswith("demo secret key: ")
    )
    response = httpx.get(f"{embedded_platform['base']}/v1/merchant", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert response.json()["name"] == "Demo Store"


def test_it_says_when_everything_answers(embedded_platform):
    log = embedded_platform["log"]
    processes.wait_until(lambda: "Ledgerline is ready" in log.read_text(), timeout=120, what="ready line", log=log)
    ready = next(line for line in log.read_text().splitlines() if "Ledgerline is ready" in line)
    assert "web, PSP sandbox and 6 workers answer" in ready


def test_seed_makes_a_support_and_a_finance_user_that_can_sign_in(embedded_platform):
    stored = json.loads((embedded_platform["var"] / "demo-credentials.json").read_text())
    for username, group in (("support", "Support"), ("finance", "Finance")):
        password = stored[f"{username}_password"]
        assert f"back office: user '{username}', password '{password}' ({group})" in embedded_platform["seed_output"]
    script = (
        "import json; from django.contrib.auth import authenticate; "
        f"stored = json.loads(open({str(embedded_platform['var'] / 'demo-credentials.json')!r}).read()); "
        "users = {n: authenticate(username=n, password=stored[n + '_password']) for n in ('support', 'finance')}; "
        "print(json.dumps({n: [u.is_staff, u.is_superuser, [g.name for g in u.groups.all()]] "
        "for n, u in users.items()}))"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=processes.ROOT,
        env=embedded_platform["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    users = json.loads(done.stdout.strip().splitlines()[-1])
    assert users == {"support": [True, False, ["Support"]], "finance": [True, False, ["Finance"]]}


def test_seeding_twice_keeps_the_same_credentials(embedded_platform):
    again = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=processes.ROOT,
        env=embedded_platform["env"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert again.stdout == embedded_platform["seed_output"]
    stored = json.loads((embedded_platform["var"] / "demo-credentials.json").read_text())
    assert stored["secret_key"] in again.stdout


def test_the_psp_sandbox_runs_beside_the_platform(embedded_platform):
    response = httpx.get(f"{embedded_platform['sandbox']}/healthz", timeout=5)
    assert response.status_code == 200


def test_ready_without_any_service(embedded_platform):
    response = httpx.get(f"{embedded_platform['base']}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "cache": "ok"}


def test_the_worker_it_started_executes_a_round_trip_task(embedded_platform):
    code = "import django; django.setup(); from core.tasks import ping; print(ping.delay('embedded').get(timeout=60))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=processes.ROOT,
        env={**embedded_platform["env"], "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr + embedded_platform["log"].read_text()[-3000:]
    assert "'pong': 'embedded'" in done.stdout


def test_payments_reach_their_provider_and_come_back(embedded_platform):
    """make run, end to end: the relay, a provider worker, the sandbox and its signed callback, on no services."""
    secret = next(
        line.split(": ", 1)[1]
        for line in embedded_platform["seed_output"].splitlines()
        if line.startswith("demo secret key: ")
    )
    base, headers = embedded_platform["base"], {"Authorization": f"Bearer {secret}"}
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2039, "cvc": "123"}
    paid = httpx.post(
        f"{base}/v1/payments",
        json={"amount": 2000, "currency": "usd", "confirm": True, "payment_method": {"type": "card", "card": card}},
        headers=headers,
        timeout=30,
    ).json()
    upi = httpx.post(
        f"{base}/v1/payments",
        json={"amount": 49900, "currency": "inr", "confirm": True, "payment_method": {"type": "upi"}},
        headers=headers,
        timeout=30,
    ).json()

    def status(payment_id: str) -> str:
        return str(httpx.get(f"{base}/v1/payments/{payment_id}", headers=headers, timeout=10).json()["status"])

    log = embedded_platform["log"]
    processes.wait_until(lambda: status(paid["id"]) == "succeeded", timeout=60, what="card payment", log=log)
    processes.wait_until(lambda: status(upi["id"]) == "requires_action", timeout=60, what="UPI intent", log=log)
    action = httpx.get(f"{base}/v1/payments/{upi['id']}", headers=headers, timeout=10).json()["next_action"]
    approve = action["sandbox_approve_url"].replace("/pay", "/approve")
    assert httpx.post(approve, json={}, timeout=10).status_code == 200
    # The sandbox's signed callback reaches /psp/webhooks/upi and settles the payment.
    processes.wait_until(lambda: status(upi["id"]) == "succeeded", timeout=60, what="UPI callback", log=log)


def _started_pids(log, name: str) -> list[int]:
    marker = f" {name} | started with pid "
    return [int(line.rsplit(" ", 1)[1]) for line in log.read_text().splitlines() if marker in line]


def _ping(env, queue: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import django; django.setup(); from core.tasks import ping; "
        f"print(ping.apply_async(args=('after-restart',), queue={queue!r}).get(timeout=60))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=processes.ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_a_worker_whose_main_process_dies_is_restarted_and_the_rest_keeps_running(embedded_platform):
    """Killing one provider worker used to stop the whole platform (honcho tears everything down)."""
    log, base, proc = embedded_platform["log"], embedded_platform["base"], embedded_platform["proc"]
    [main_pid] = _started_pids(log, "psp-card_a")
    pool = [pid for pid in processes.session_pids(proc.pid) if os.getpgid(pid) == main_pid and pid != main_pid]
    assert pool, "the prefork worker should have pool processes"
    os.kill(main_pid, signal.SIGKILL)
    processes.wait_until(lambda: len(_started_pids(log, "psp-card_a")) == 2, timeout=30, what="restart", log=log)
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{embedded_platform['sandbox']}/healthz", timeout=5).status_code == 200
    # The orphaned pool processes went with their main process: no second consumer of the same queue lingers.
    assert not set(pool) & set(processes.session_pids(proc.pid))
    done = _ping(embedded_platform["env"], "psp.card_a")
    assert done.returncode == 0, done.stderr + log.read_text()[-3000:]
    assert "'pong': 'after-restart'" in done.stdout
    assert proc.poll() is None


def test_metrics_add_up_every_process_and_answer_on_loopback(embedded_platform):
    from prometheus_client.parser import text_string_to_metric_families

    log = embedded_platform["log"]
    processes.wait_until(lambda: "Ledgerline is ready" in log.read_text(), timeout=120, what="ready line", log=log)
    response = httpx.get(f"{embedded_platform['base']}/metrics")
    assert response.status_code == 200  # loopback, no token: the embedded shape's default
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    # The readiness check pinged a worker on every queue: those workers' counts reach the web's page through the
    # folder run_platform shares between its programs.
    pinged = {
        dict(labels)["queue"]
        for (name, labels), value in samples.items()
        if name == "ledgerline_celery_tasks_total" and dict(labels).get("task") == "core.ping" and value >= 1
    }
    assert {"celery", "webhooks", "psp.card_a", "psp.upi"} <= pinged
    assert any(
        name == "ledgerline_http_requests_total" and dict(labels)["route"] == "readyz" for name, labels in samples
    )
    assert samples[("ledgerline_circuit_state", (("connector", "card_a"), ("state", "closed")))] == 1
    assert list((embedded_platform["var"] / "metrics").glob("*.db"))


def test_ctrl_c_stops_every_process_it_started(embedded_platform):
    proc, log = embedded_platform["proc"], embedded_platform["log"]
    os.kill(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode == 0
    # Its programs run in process groups of their own, all in the session the test opened.
    assert processes.session_pids(proc.pid) == [], "processes left running"
    text = log.read_text()
    # Celery's warm shutdown (running tasks finish), not a SIGKILL after a few seconds.
    assert text.count("Warm shutdown") == 6
    assert "killed" not in text.split("stopping (waiting", 1)[1]
