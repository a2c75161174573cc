"""System checks of the payments app: production never runs on the sandbox's published credentials.

Registered for every ``manage.py`` command (``check``, ``check --deploy``, ``migrate`` …) and run again when a web
or worker process starts (``core.startup``), so a production process with a connector whose API key or webhook
secret is missing, or is one the sandbox publishes in its README, does not start.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from payments.connectors.http import ProviderTls

# The sandbox's documented defaults: sandbox_<provider>_key and whsec_sandbox_<provider>. Anyone can read them.
_PUBLISHED = re.compile(r"^(sandbox_[a-z0-9_]+_key|whsec_sandbox_[a-z0-9_]+)$")
_CREDENTIALS = (("api_key", "API_KEY"), ("webhook_secret", "WEBHOOK_SECRET"))


@register(Tags.security)
def psp_credentials_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not settings.PRODUCTION:
        return []
    errors: list[CheckMessage] = []
    for name, config in settings.PSP_CONNECTORS.items():
        for key, variable in _CREDENTIALS:
            value = str(config.get(key) or "")
            env = f"PSP_{name.upper()}_{variable}"
            if not value:
                errors.append(
                    Error(
                        f"Connector {name!r} has no {key}.",
                        hint=f"Set {env} to the credential the provider issued for this account.",
                        id="payments.E001",
                    )
                )
            elif _PUBLISHED.match(value):
                errors.append(
                    Error(
                        f"Connector {name!r} uses the sandbox's published {key}.",
                        hint=f"Set {env} to the credential the provider issued; the sandbox's is public.",
                        id="payments.E002",
                    )
                )
    return errors


@register(Tags.security)
def vault_keys_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every shape needs a usable vault key ring; production also needs one nobody else knows."""
    from payments import vault  # the vault imports settings-dependent crypto; keep this module import-light

    try:
        ring = vault.key_ring_parse(settings.LEDGERLINE_VAULT_KEYS, settings.LEDGERLINE_VAULT_ACTIVE_KEY)
    except vault.VaultConfigurationError as exc:
        return [
            Error(
                f"The card vault has no usable key-encryption key: {exc}.",
                hint="Set LEDGERLINE_VAULT_KEYS to id:base64 of 32 random bytes (several, comma separated, to rotate) "
                "and LEDGERLINE_VAULT_ACTIVE_KEY to the id new cards are sealed under.",
                id="payments.E003",
            )
        ]
    published = base64.b64decode(vault.DEV_KEY)
    if settings.PRODUCTION and any(key == published for key in ring.keys.values()):
        return [
            Error(
                "The card vault uses the development key, which is published in the source code.",
                hint="Set LEDGERLINE_VAULT_KEYS to a key of 32 random bytes of your own.",
                id="payments.E004",
            )
        ]
    return []


@register(Tags.security)
def psp_tls_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A connector's TLS files load, in every shape: a missing or unreadable certificate stops start-up, rather than
    failing each payment's call to that provider."""
    errors: list[CheckMessage] = []
    for name, config in settings.PSP_CONNECTORS.items():
        tls = ProviderTls(**(config.get("tls") or {}))
        if not tls:
            continue
        try:
            tls.ssl_context()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            errors.append(
                Error(
                    f"Connector {name!r}: its TLS files do not load ({exc}).",
                    hint=f"Check PSP_{name.upper()}_CA_BUNDLE, PSP_{name.upper()}_CLIENT_CERT and "
                    f"PSP_{name.upper()}_CLIENT_KEY: readable PEM files, the key matching the certificate.",
                    id="payments.E005",
                )
            )
    return errors


@register(Tags.security)
def checkout_base_url_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Payers type card numbers into the hosted checkout page: in production its address is HTTPS."""
    if not settings.PRODUCTION or str(settings.LEDGERLINE_BASE_URL).startswith("https://"):
        return []
    return [
        Error(
            "The hosted checkout page would be served over plain HTTP.",
            hint="Set LEDGERLINE_BASE_URL to the platform's public https:// origin.",
            id="payments.E006",
        )
    ]
