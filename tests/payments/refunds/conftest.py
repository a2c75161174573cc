from __future__ import annotations

from tests.payments.execution.conftest import api

__all__ = ["api"]
