from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests import processes, psp_sandbox


def owner_connection() -> psycopg.Connection[Any]:
    """A connection to the test database as the owner role (which created it and ran the migrations), outside the
    test's own transaction: what the application's role may not do, the owner may (core/database_roles.py)."""
    owner, name = settings.DATABASES["owner"], connection.settings_dict["NAME"]
    return psycopg.connect(
        host=owner["HOST"], port=owner["PORT"], user=owner["USER"], password=owner["PASSWORD"], dbname=name
    )


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """The test database is created and migrated by the owner role, as a deployment's migrations are."""
    default, owner = settings.DATABASES["default"], settings.DATABASES["owner"]
    default["APP_USER"], default["APP_PASSWORD"] = default["USER"], default["PASSWORD"]
    default["USER"], default["PASSWORD"] = owner["USER"], owner["PASSWORD"]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Then the owner grants the application's role, and every test runs as that role: nothing in the suite can do
    what the application could not (a transactional test's flush goes through the owner, below)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    from core.database_roles import database_roles_grant

    default = settings.DATABASES["default"]
    with django_db_blocker.unblock():
        database_roles_grant(using="default", app_role=default["APP_USER"])
    connection.close()
    default["USER"], default["PASSWORD"] = default["APP_USER"], default["APP_PASSWORD"]
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        # TRUNCATE is refused to the application's role, and the journal's triggers refuse it to anyone: the owner
        # sets its triggers aside for the flush's transaction only.
        from django.apps import apps

        tables = [t for config in apps.get_app_configs() for t in getattr(config, "append_only_tables", ())]
        # A live platform's relay or worker (the SDK tests') may still be finishing the test's last work, and its
        # transaction and the TRUNCATE can lock the same tables in opposite orders: PostgreSQL then cancels one of
        # them. When that is the flush, it is run again; the platform's transaction has finished by then.
        for attempt in range(5):
            try:
                with owner_connection() as owner:
                    for table in tables:
                        owner.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                    for statement in sql_list:
                        owner.execute(statement)
                    for table in tables:
                        owner.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                return
            except psycopg.errors.DeadlockDetected:
                if attempt == 4:
                    raise
                time.sleep(0.5)

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]
    connection.close()
    default["USER"], default["PASSWORD"] = settings.DATABASES["owner"]["USER"], settings.DATABASES["owner"]["PASSWORD"]


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
            lambda: _pong(ping),
            timeout=120,
            what="celery worker",
            log=log,
        )
        yield log
    finally:
        processes.stop(proc)


def _pong(ping: Any) -> bool:
    """A worker still booting (slowly, on a loaded machine) leaves the first pings unanswered: ask again."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    try:
        return bool(ping.delay("ready").get(timeout=5)["pong"] == "ready")
    except CeleryTimeout:
        return False


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
