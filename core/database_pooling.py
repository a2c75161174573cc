"""The application's connections through a pooler in transaction mode (``DATABASE_TRANSACTION_POOLING``).

pgbouncer refuses the startup option that carries the statement and lock timeouts (config/settings.py), so behind it
they come from the role (``ALTER ROLE … SET statement_timeout``); a deployment that forgot that would run with no
timeout at all and nothing would say so. ``check --database default`` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.db import connections


def session_timeouts_ms(alias: str = "default") -> dict[str, int]:
    """The timeouts the server applies to this connection, in milliseconds (0 = none)."""
    found: dict[str, int] = {}
    with connections[alias].cursor() as cursor:
        for name in settings.DATABASE_TIMEOUTS_MS:
            # pg_settings counts both in milliseconds, where SHOW answers "1min" or "10s".
            cursor.execute("SELECT setting::bigint FROM pg_settings WHERE name = %s", [name])
            (value,) = cursor.fetchone()
            found[name] = int(value)
    return found


def check_pooled_timeouts(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Behind the pooler, every timeout the settings ask for must reach the server (from the role)."""
    if not databases or "default" not in databases:
        return []
    if "default" not in getattr(settings, "DATABASE_POOLED", ()):
        return []
    applied = session_timeouts_ms()
    missing = [name for name, ms in settings.DATABASE_TIMEOUTS_MS.items() if ms and not applied.get(name)]
    if not missing:
        return []
    statements = "; ".join(
        f"ALTER ROLE {settings.DATABASES['default']['USER']} SET {name} = '{settings.DATABASE_TIMEOUTS_MS[name]}ms'"
        for name in missing
    )
    return [
        Error(
            f"Behind the transaction pooler the application's connections have no {' and no '.join(missing)}: "
            "pgbouncer does not pass the startup option that would set them.",
            hint=f"Set them on the role: {statements}; or set DATABASE_STATEMENT_TIMEOUT_MS / "
            "DATABASE_LOCK_TIMEOUT_MS to 0 to run without them on purpose.",
            id="ledgerline.E030",
        )
    ]


def register_checks() -> None:
    register(check_pooled_timeouts, Tags.database)
