"""deploy/: the alert rules are valid Prometheus rules, each with a runbook entry in docs/operations.md, and the
rules and the dashboard only use metrics the platform exports; the systemd units run every queue's worker, exactly
one beat, and stop and reload gracefully."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from django.conf import settings

from core.management.commands.run_platform import worker_queues
from tests import processes

ROOT = processes.ROOT
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "ledgerline.json"
OPERATIONS = ROOT / "docs" / "operations.md"
SYSTEMD = ROOT / "deploy" / "systemd"
_METRIC = re.compile(r"\bledgerline_[a-z_]+\b")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def _rules() -> list[dict[str, object]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_is_well_formed_and_has_a_runbook_entry():
    rules = _rules()
    assert len(rules) >= 15
    headings = {line[4:].strip() for line in OPERATIONS.read_text().splitlines() if line.startswith("### ")}
    for rule in rules:
        name = str(rule["alert"])
        assert {"alert", "expr", "labels", "annotations"} <= rule.keys(), name
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}", name
        assert name in headings, f"docs/operations.md has no runbook entry for {name}"


def _exported_metric_names() -> set[str]:
    sources = [*ROOT.glob("core/*.py"), *ROOT.glob("*/metrics.py")]
    names = set()
    for source in sources:
        names |= set(re.findall(r'"(ledgerline_[a-z_]+)"', source.read_text()))
    return names


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_rules_and_dashboard_use_only_exported_metrics():
    exported = {_base(name) for name in _exported_metric_names()}
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [str(rule["expr"]) for rule in _rules()] + [
        target["expr"] for panel in dashboard["panels"] for target in panel["targets"]
    ]
    used = {_base(name) for expr in expressions for name in _METRIC.findall(expr)}
    assert used, "no metric found in the rules"
    assert used - exported == set(), "metrics used but not exported"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (apt-get install prometheus)")
def test_promtool_accepts_the_rules():
    result = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _unit(name: str) -> dict[str, list[str]]:
    """A unit file's keys and their values in order (systemd allows a key several times)."""
    keys: dict[str, list[str]] = {}
    for line in (SYSTEMD / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def _services() -> dict[str, dict[str, list[str]]]:
    """The services the target starts, a template's instances each under its own name."""
    wanted = " ".join(_unit("ledgerline.target")["Wants"]).split()
    services = {}
    for name in wanted:
        template = re.sub(r"@[^.]+\.service$", "@.service", name)
        assert (SYSTEMD / template).exists(), f"ledgerline.target wants {name}, which deploy/systemd lacks"
        instance = name.split("@", 1)[1].removesuffix(".service") if "@" in name else ""
        keys = _unit(template)
        services[name] = {key: [value.replace("%i", instance) for value in values] for key, values in keys.items()}
    return services


def _runs(service: dict[str, list[str]]) -> str:
    (command,) = service["ExecStart"]
    return command


def test_the_units_run_one_worker_per_queue_of_the_settings_and_exactly_one_beat():
    consumed: list[str] = []
    for name, service in _services().items():
        queues = re.findall(r"--queues (\S+)", _runs(service))
        assert len(queues) <= 1, f"{name}: one queue per worker (the bulkheads)"
        assert "," not in "".join(queues), f"{name}: one queue per worker (the bulkheads)"
        consumed += queues
    # The queues run_platform starts a worker for: celery, webhooks and one psp.<connector> per connector.
    assert sorted(consumed) == sorted(worker_queues().values())
    assert {f"psp.{name}" for name in settings.PSP_CONNECTORS} <= set(consumed)
    beats = [name for name, service in _services().items() if re.search(r"celery .* beat\b", _runs(service))]
    assert beats == ["ledgerline-beat.service"]


def test_every_unit_restarts_what_dies_and_stops_gracefully_within_its_longest_wait():
    from config import gunicorn

    # What a program may legitimately still be doing when asked to stop, and so must be given before SIGKILL.
    longest_wait = {
        "ledgerline-web.service": gunicorn.timeout,
        **{f"ledgerline-psp@{name}.service": settings.PSP_READ_TIMEOUT for name in settings.PSP_CONNECTORS},
        "ledgerline-webhooks.service": settings.WEBHOOKS_TIMEOUT_SECONDS,
    }
    for name, service in _services().items():
        if service.get("Type") == ["oneshot"]:
            continue
        assert service["Restart"] == ["always"], name
        assert service["KillSignal"] == ["SIGTERM"], f"{name}: SIGTERM is the graceful stop of gunicorn and Celery"
        assert service["KillMode"] == ["mixed"], f"{name}: the main process stops its own children"
        assert float(service["TimeoutStopSec"][0]) > longest_wait.get(name, 0), name
        assert service["EnvironmentFile"], name
        assert "LEDGERLINE_ENV=production" in " ".join(service["Environment"]), name
        assert "ledgerline-metrics.service" in service["Requires"], (
            f"{name}: starts after the metrics folder is emptied"
        )


def test_the_web_unit_serves_with_the_gunicorn_config_and_reloads_with_sighup():
    web = _services()["ledgerline-web.service"]
    assert "gunicorn config.wsgi --config python:config.gunicorn" in _runs(web)
    assert web["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
