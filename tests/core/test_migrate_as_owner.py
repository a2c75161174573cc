"""The deployment's migration path (``manage.py migrate --database owner``) on a fresh database, with the
application's role as the default connection: every data migration must read and write through the migrating
connection (one that used the default connection waited forever for the lock its own migration held), and the
application's role must come out of it with its privileges (the grant was never sent: core has no models)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg
import pytest
from django.conf import settings

from tests import processes


def _url(alias: str, name: str) -> str:
    db = settings.DATABASES[alias]
    user, password = db.get("APP_USER", db["USER"]), db.get("APP_PASSWORD", db["PASSWORD"])
    return f"postgres://{user}:{password}@{db['HOST']}:{db['PORT']}/{name}"


@pytest.mark.django_db
def test_a_fresh_database_migrates_as_the_owner_while_the_application_role_is_the_default():
    owner = settings.DATABASES["owner"]
    name = f"ledgerline_fresh_{uuid.uuid4().hex[:10]}"
    admin = {"host": owner["HOST"], "port": owner["PORT"], "user": owner["USER"], "password": owner["PASSWORD"]}
    with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        env = processes.clean_env(
            LEDGERLINE_ENV="test",
            DATABASE_URL=_url("default", name),
            DATABASE_OWNER_URL=_url("owner", name),
            REDIS_URL=str(settings.REDIS_URL),
        )
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--database", "owner", "--noinput", "-v", "0"],
            cwd=processes.ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        # The owner granted the application's role what it needs (core.database_roles), without a test's help.
        app = settings.DATABASES["default"]
        with psycopg.connect(**{**admin, "user": app["USER"], "password": app["PASSWORD"]}, dbname=name) as conn:
            assert conn.execute("SELECT COUNT(*) FROM payments_merchant").fetchone() == (0,)
    finally:
        with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
