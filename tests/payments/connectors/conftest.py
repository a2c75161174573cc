from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from payments.connectors import registry
from tests.psp_sandbox import Client, Server

# Short enough to keep the suite quick, long enough never to fire on a healthy local sandbox.
READ_TIMEOUT = 1.5
CIRCUIT = {"failure_threshold": 3, "window_seconds": 30.0, "cooldown_seconds": 0.5}


@pytest.fixture
def sandbox(sandbox_server: Server) -> Iterator[Client]:
    """The live sandbox, reset (state, faults, clock, tunables) for this test."""
    client = Client(sandbox_server)
    client.control("/reset", {"state": True})
    yield client
    client.control("/reset", {"state": True})
    client.http.close()


@pytest.fixture
def psp(settings: Any, sandbox: Client) -> Iterator[Client]:
    """PSP_CONNECTORS pointed at the live sandbox, with short timeouts and a quick circuit; breakers closed."""
    settings.PSP_CONNECTORS = {
        name: {
            **config,
            "base_url": f"{sandbox.url}/{name}",
            "read_timeout": READ_TIMEOUT,
            "connect_timeout": 1.0,
            "circuit": CIRCUIT,
        }
        for name, config in settings.PSP_CONNECTORS.items()
    }
    for name in registry.connector_names():
        registry.breaker_get(name).reset()
    yield sandbox
    for name in registry.connector_names():
        registry.breaker_get(name).reset()
    registry.registry_reset()
