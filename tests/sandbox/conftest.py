"""Fixtures of the sandbox's own tests (no Django, no db); the server and client live in tests/psp_sandbox.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# Re-exported: the sandbox tests import these from here.
from tests.psp_sandbox import (
    KEYS,
    ROOT,
    SECRETS,
    SERVER_ENV,
    Client,
    Receiver,
    Server,
    free_port,
    receiving,
    start_server,
    stop_server,
)

__all__ = [
    "KEYS",
    "ROOT",
    "SECRETS",
    "SERVER_ENV",
    "Client",
    "Receiver",
    "Server",
    "free_port",
    "start_server",
    "stop_server",
]


@pytest.fixture(scope="session")
def server(sandbox_server: Server) -> Server:
    return sandbox_server


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    """A client on a freshly reset sandbox (state, faults, clock, tunables)."""
    c = Client(server)
    c.control("/reset", {"state": True})
    yield c
    c.http.close()


@pytest.fixture
def receiver(client: Client) -> Iterator[Receiver]:
    with receiving(client) as hook:
        yield hook
