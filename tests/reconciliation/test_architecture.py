"""reconciliation reads payments only through its selectors and connectors; payments never imports reconciliation."""

from __future__ import annotations

from pathlib import Path

from tests.ledger.test_architecture import imported_modules

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_FROM_PAYMENTS = ("payments.selectors", "payments.connectors")


def test_reconciliation_reads_payments_only_through_selectors_and_connectors() -> None:
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in (ROOT / "reconciliation").rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] == "payments" and not module.startswith(ALLOWED_FROM_PAYMENTS)
    }
    assert not offenders


def test_payments_and_ledger_never_import_reconciliation() -> None:
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for app in ("payments", "ledger")
        for path in (ROOT / app).rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] == "reconciliation"
    }
    assert not offenders
