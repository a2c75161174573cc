"""Least privilege in PostgreSQL: migrations run as an owner role, the application as a role that owns nothing.

The application's role may read and write what the product writes, but on the tables an app declares append-only
(``AppConfig.append_only_tables``: the ledger's journal, seals and checkpoints, the back office's audit log) it may
only ``SELECT`` and ``INSERT``; on the tables it only locks (``AppConfig.locked_tables``: ledger accounts) it may
update one harmless column, which ``SELECT … FOR UPDATE`` requires. Not owning the tables, it cannot ``ALTER TABLE
… DISABLE TRIGGER``; not being a superuser, it cannot ``SET session_replication_role``. The README's "Running in
production" section shows how a deployment creates both roles.

``manage.py migrate --database owner`` (with ``DATABASE_OWNER_URL`` set) grants the application's role what it
needs after every migration, so tables added later are covered too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.db import connections
from psycopg import sql

OWNER_ALIAS = "owner"


def _declared(attribute: str) -> list[Any]:
    return [table for config in apps.get_app_configs() for table in getattr(config, attribute, ())]


def database_roles_grant(*, using: str, app_role: str) -> None:
    """Gives ``app_role`` exactly the privileges above on every table of the schema (run as the tables' owner)."""
    role = sql.Identifier(app_role)
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(role),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(role),
    ]
    for table in _declared("append_only_tables"):
        statements.append(sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(sql.Identifier(table), role))
    for table, column in _declared("locked_tables"):
        statements += [
            sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(sql.Identifier(table), role),
            sql.SQL("GRANT UPDATE ({}) ON {} TO {}").format(sql.Identifier(column), sql.Identifier(table), role),
        ]
    with connections[using].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement.as_string(cursor.connection))


def grant_after_migrate(*, sender: AppConfig, using: str, **kwargs: Any) -> None:
    """``post_migrate``: migrations that ran as the owner leave the application's role its privileges.

    Django sends the signal once per app with models, after all of them migrated: granting on the last one's is
    granting once, on every table."""
    if using != OWNER_ALIAS or connections[using].vendor != "postgresql":
        return
    if sender is not [config for config in apps.get_app_configs() if config.models_module is not None][-1]:
        return
    database_roles_grant(using=using, app_role=settings.DATABASES["default"]["USER"])


@register(Tags.database)
def check_application_role(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``check --database default`` in production: the application's role is no superuser and owns no journal.
    (Database checks run only when asked for a database, like Django's own.)"""
    if not databases or "default" not in databases:
        return []
    if not settings.PRODUCTION or connections["default"].vendor != "postgresql":
        return []
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        (superuser,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = ANY(%s) AND tableowner = current_user",
            [_declared("append_only_tables")],
        )
        (owned,) = cursor.fetchone()
    problems: list[CheckMessage] = []
    if superuser:
        problems.append(
            Error(
                "The application connects to PostgreSQL as a superuser, which can bypass the journal's protections.",
                hint="Connect with a role that owns nothing (DATABASE_URL) and migrate as the owner "
                "(DATABASE_OWNER_URL, manage.py migrate --database owner).",
                id="ledgerline.E010",
            )
        )
    if owned:
        problems.append(
            Error(
                "The application's database role owns the journal tables, so it could disable their triggers.",
                hint="Migrate as a separate owner role (DATABASE_OWNER_URL) and let it grant the application's role.",
                id="ledgerline.E011",
            )
        )
    return problems
