"""deploy/: the alert rules are valid Prometheus rules, each with a runbook entry in docs/operations.md, and the
rules and the dashboard only use metrics the platform exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from tests import processes

ROOT = processes.ROOT
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "ledgerline.json"
OPERATIONS = ROOT / "docs" / "operations.md"
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
