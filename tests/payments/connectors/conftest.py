from __future__ import annotations

import pytest

from tests.conftest import PSP_TEST_CIRCUIT
from tests.psp_sandbox import Client

CIRCUIT = PSP_TEST_CIRCUIT


@pytest.fixture
def psp(psp_settings: None, sandbox: Client) -> Client:
    """The reset sandbox, with the platform's connectors pointed at it."""
    return sandbox
