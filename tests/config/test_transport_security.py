"""The production shape warns while PostgreSQL or Redis on another machine is reached without verified TLS
(core/transport_security.py), and the URLs the operations guide gives turn the warnings off."""

from __future__ import annotations

import environ
import pytest

from core.transport_security import check_encrypted_services

REMOTE_DB = "postgres://ledgerline_app:pw@db.internal:5432/ledgerline"


def _ids(settings, *, database_url: str, redis_url: str) -> list[str]:
    settings.PRODUCTION = True
    settings.DATABASES = {"default": environ.Env.db_url_config(database_url)}
    settings.REDIS_URL = settings.CELERY_BROKER_URL = redis_url
    return [message.id for message in check_encrypted_services()]


@pytest.mark.parametrize(
    ("database_url", "redis_url", "expected"),
    [
        (REMOTE_DB, "redis://redis.internal:6379/0", ["ledgerline.W040", "ledgerline.W041", "ledgerline.W041"]),
        (f"{REMOTE_DB}?sslmode=require", "redis://127.0.0.1:6379/0", ["ledgerline.W040"]),
        (
            f"{REMOTE_DB}?sslmode=verify-full&sslrootcert=/etc/ledgerline/db-ca.pem",
            "rediss://:pw@redis.internal:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/ledgerline/redis-ca.pem",
            [],
        ),
        ("postgres://ledgerline_app:pw@127.0.0.1:5432/ledgerline", "redis://localhost:6379/0", []),
    ],
)
def test_plain_or_unverified_traffic_to_another_machine_is_warned_about(settings, database_url, redis_url, expected):
    assert _ids(settings, database_url=database_url, redis_url=redis_url) == expected


def test_the_verify_full_url_reaches_psycopg_as_connection_options():
    database = environ.Env.db_url_config(f"{REMOTE_DB}?sslmode=verify-full&sslrootcert=/etc/ledgerline/db-ca.pem")
    assert database["OPTIONS"] == {"sslmode": "verify-full", "sslrootcert": "/etc/ledgerline/db-ca.pem"}
