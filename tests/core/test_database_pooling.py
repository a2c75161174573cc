"""The application behind a transaction pooler (``DATABASE_TRANSACTION_POOLING``, pgbouncer ``pool_mode =
transaction``): no server-side cursors, no startup options pgbouncer would refuse, and a check that the statement
and lock timeouts still reach the server (from the role) when the startup option cannot carry them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from core.database_pooling import check_pooled_timeouts
from tests import processes

_DUMP = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    alias: {
        "cursors_off": db.get("DISABLE_SERVER_SIDE_CURSORS", False),
        "options": db.get("OPTIONS", {}).get("options"),
        "prepare_threshold": db.get("OPTIONS", {}).get("prepare_threshold", "unset"),
    }
    for alias, db in s.DATABASES.items()
}))
"""
_SHAPE = {
    "LEDGERLINE_ENV": "test",
    "DATABASE_URL": "postgres://app:pw@pgbouncer.internal:6432/ledgerline",
    "DATABASE_REPLICA_URL": "postgres://app:pw@replica.internal:5432/ledgerline",
}


def test_a_pooled_connection_has_no_server_side_cursors_and_no_startup_options() -> None:
    pooled = processes.django_probe(_DUMP, {**_SHAPE, "DATABASE_TRANSACTION_POOLING": "true"})
    assert pooled["default"] == {"cursors_off": True, "options": None, "prepare_threshold": "unset"}
    # The replica is reached directly unless said otherwise: reports keep streaming through server-side cursors.
    assert pooled["replica"]["cursors_off"] is False

    direct = processes.django_probe(_DUMP, _SHAPE)
    assert direct["default"]["cursors_off"] is False
    # Prepared statements live in a server session: only a direct connection keeps them (core.db.prepared_cursor).
    assert direct["default"]["prepare_threshold"] == 1
    assert direct["default"]["options"] == "-c statement_timeout=60000 -c lock_timeout=10000"

    both = processes.django_probe(
        _DUMP, {**_SHAPE, "DATABASE_TRANSACTION_POOLING": "1", "DATABASE_REPLICA_TRANSACTION_POOLING": "1"}
    )
    assert both["replica"]["cursors_off"] is True


@pytest.fixture
def without_startup_options() -> Iterator[None]:
    """The application's connection as pgbouncer hands it over: whatever the role says, nothing from the client."""
    options = connection.settings_dict.setdefault("OPTIONS", {})
    original = options.pop("options", None)
    connection.close()
    try:
        yield
    finally:
        connection.close()
        if original is not None:
            options["options"] = original


@pytest.mark.django_db
def test_the_check_passes_when_the_timeouts_reach_the_server(settings: Any) -> None:
    settings.DATABASE_POOLED = {"default"}
    assert check_pooled_timeouts(databases=["default"]) == []
    assert check_pooled_timeouts(databases=None) == []  # only when asked for a database


@pytest.mark.django_db(transaction=True)  # reconnects, which a test wrapped in a transaction cannot
def test_the_check_fails_when_the_role_does_not_set_them(settings: Any, without_startup_options: None) -> None:
    settings.DATABASE_POOLED = {"default"}
    (problem,) = check_pooled_timeouts(databases=["default"])
    assert problem.id == "ledgerline.E030"
    assert "statement_timeout and no lock_timeout" in problem.msg
    assert "ALTER ROLE ledgerline_app SET statement_timeout = '60000ms'" in str(problem.hint)
    # Not pooled, or no timeouts asked for: nothing to check.
    settings.DATABASE_POOLED = set()
    assert check_pooled_timeouts(databases=["default"]) == []
    settings.DATABASE_POOLED = {"default"}
    settings.DATABASE_TIMEOUTS_MS = {"statement_timeout": 0, "lock_timeout": 0}
    assert check_pooled_timeouts(databases=["default"]) == []
