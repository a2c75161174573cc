from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PSP_TEST_CIRCUIT
from tests.psp_sandbox import Client, Server

CIRCUIT = PSP_TEST_CIRCUIT


@pytest.fixture
def sandbox(sandbox_server: Server) -> Iterator[Client]:
    """The live sandbox, reset (state, faults, clock, tunables) for this test."""
    client = Client(sandbox_server)
    client.control("/reset", {"state": True})
    yield client
    client.control("/reset", {"state": True})
    client.http.close()


@pytest.fixture
def psp(psp_settings: None, sandbox: Client) -> Client:
    """The reset sandbox, with the platform's connectors pointed at it."""
    return sandbox
