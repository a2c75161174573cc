"""payments -> ledger <- reconciliation: the ledger never imports either of them."""

from __future__ import annotations

import ast
from pathlib import Path

LEDGER = Path(__file__).resolve().parents[2] / "ledger"
FORBIDDEN = ("payments", "reconciliation")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_ledger_imports_neither_payments_nor_reconciliation():
    offenders = {
        f"{path.relative_to(LEDGER.parent)}: {module}"
        for path in LEDGER.rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN
    }
    assert not offenders


def test_the_check_sees_the_whole_app():
    assert len(list(LEDGER.rglob("*.py"))) > 10
