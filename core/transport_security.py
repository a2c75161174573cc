"""System checks of the production shape: traffic to PostgreSQL and Redis on another machine is encrypted and the
server's certificate verified.

``DATABASE_URL`` carries libpq's TLS parameters in its query (``?sslmode=verify-full&sslrootcert=/path/ca.pem``,
passed on to psycopg as connection options); Redis is reached over TLS with a ``rediss://`` URL (``?ssl_cert_reqs=
required&ssl_ca_certs=/path/ca.pem``). On loopback or a Unix socket there is no network to protect. These are
warnings, not errors: a deployment may encrypt below the application (an IPsec or WireGuard network), and says so
by silencing them (``SILENCED_SYSTEM_CHECKS``). docs/operations.md shows the settings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

_VERIFYING_SSLMODES = {"verify-full", "verify-ca"}


def _is_local(host: str | None) -> bool:
    if not host or host.startswith("/") or host == "localhost":
        return True  # no host (libpq's default socket), a socket directory, or this machine
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_encrypted_services(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    if not settings.PRODUCTION:
        return []
    warnings: list[CheckMessage] = []
    for alias, database in settings.DATABASES.items():
        if database["ENGINE"].endswith("sqlite3") or _is_local(database.get("HOST")):
            continue
        sslmode = str(database.get("OPTIONS", {}).get("sslmode", ""))
        if sslmode not in _VERIFYING_SSLMODES:
            warnings.append(
                Warning(
                    f"Database {alias!r} on {database.get('HOST')} is reached with sslmode={sslmode or 'prefer'}: "
                    "the traffic may be plain, or the server not the one it claims to be.",
                    hint="Add ?sslmode=verify-full&sslrootcert=/path/to/ca.pem to its URL.",
                    id="ledgerline.W040",
                )
            )
    urls = {"REDIS_URL": settings.REDIS_URL, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
    for variable, url in urls.items():
        parts = urlsplit(str(url or ""))
        if parts.scheme == "redis" and not _is_local(parts.hostname):
            warnings.append(
                Warning(
                    f"{variable} reaches Redis on {parts.hostname} without TLS.",
                    hint="Use rediss://…?ssl_cert_reqs=required&ssl_ca_certs=/path/to/ca.pem.",
                    id="ledgerline.W041",
                )
            )
    return warnings


def register_checks() -> None:
    register(check_encrypted_services, Tags.security)
