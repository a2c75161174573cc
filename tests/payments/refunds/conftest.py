from __future__ import annotations

from tests.payments.execution.conftest import api, sandbox

__all__ = ["api", "sandbox"]
