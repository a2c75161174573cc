from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests import processes, psp_sandbox


@pytest.fixture(scope="session", autouse=True)
def _flush_past_ledger_triggers() -> Iterator[None]:
    """Lets transactional tests' flush TRUNCATE the journal tables, whose triggers refuse TRUNCATE otherwise.

    ``session_replication_role = replica`` (superuser only, and only for this flush's transaction) is PostgreSQL's
    own switch for skipping ordinary triggers; the ledger's triggers stay in force for everything else.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        original(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def worker_env(
    django_db_setup: None, django_db_blocker: pytest.FixtureRequest, sandbox_server: psp_sandbox.Server
) -> dict[str, str]:
    """Environment for child processes of the test shape, pointed at the test database (not the dev one) and at
    the session's PSP sandbox."""
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return processes.clean_env(
        LEDGERLINE_ENV="test", DATABASE_URL=url, REDIS_URL=str(settings.REDIS_URL), SANDBOX_URL=sandbox_server.url
    )


@pytest.fixture(scope="session")
def celery_worker_process(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real Celery worker process on the real Redis broker; yields the path of its log."""
    from core.tasks import ping

    log = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = processes.start(
        [
            str(processes.BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--hostname",
            f"test-{uuid.uuid4().hex[:8]}@%h",
        ],
        worker_env,
        log,
    )
    try:
        processes.wait_until(
            lambda: ping.delay("ready").get(timeout=5)["pong"] == "ready",
            timeout=60,
            what="celery worker",
            log=log,
        )
        yield log
    finally:
        processes.stop(proc)


def json_lines(text: str) -> list[dict[str, object]]:
    """The JSON log objects in a process's output (banners and other non-JSON lines are skipped)."""
    lines = []
    for line in text.splitlines():
        start = line.find("{")
        if start == -1:
            continue
        try:
            value = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[psp_sandbox.Server]:
    """One real PSP sandbox process for the whole session, reached over HTTP only."""
    running = psp_sandbox.start_server(tmp_path_factory.mktemp("sandbox") / "server.log")
    yield running
    psp_sandbox.stop_server(running)


# Short enough to keep the suite quick, long enough never to fire on a healthy local sandbox.
PSP_TEST_READ_TIMEOUT = 1.5
PSP_TEST_CIRCUIT = {"failure_threshold": 3, "window_seconds": 30.0, "cooldown_seconds": 0.5}


@pytest.fixture
def psp_settings(settings: Any, sandbox_server: psp_sandbox.Server) -> Iterator[None]:
    """PSP_CONNECTORS pointed at the live sandbox, with short timeouts and a quick circuit; breakers closed."""
    from payments.connectors import registry

    settings.PSP_CONNECTORS = {
        name: {
            **config,
            "base_url": f"{sandbox_server.url}/{name}",
            "read_timeout": PSP_TEST_READ_TIMEOUT,
            "connect_timeout": 1.0,
            "circuit": PSP_TEST_CIRCUIT,
        }
        for name, config in settings.PSP_CONNECTORS.items()
    }
    for name in registry.connector_names():
        registry.breaker_get(name).reset()
    yield
    for name in registry.connector_names():
        registry.breaker_get(name).reset()
    registry.registry_reset()


@pytest.fixture
def sandbox(sandbox_server: psp_sandbox.Server) -> Iterator[psp_sandbox.Client]:
    """A client of the live sandbox, reset (state, faults, clock, tunables) before and after the test."""
    client = psp_sandbox.Client(sandbox_server)
    client.control("/reset", {"state": True})
    yield client
    client.control("/reset", {"state": True})
    client.http.close()
