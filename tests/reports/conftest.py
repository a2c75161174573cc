from __future__ import annotations

from tests.payments.conftest import _providers_on_the_sandbox
from tests.payments.execution.conftest import api

__all__ = ["_providers_on_the_sandbox", "api"]
