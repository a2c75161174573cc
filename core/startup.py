"""What the security system checks report at error level stops a web or worker process from starting too.

Django runs its system checks before management commands only; gunicorn and Celery load the project without them.
Only the security-tagged checks run here (the connectors' credentials among them): the others (models, URLs,
admin) guard code, not configuration, and already ran at ``migrate``; running them all cost every worker seconds.
"""

from __future__ import annotations

from django.core import checks
from django.core.checks import Tags
from django.core.exceptions import ImproperlyConfigured


def startup_checks() -> None:
    """Raises ``ImproperlyConfigured`` naming every error-level check message (the database is not queried)."""
    serious = [message for message in checks.run_checks(tags=[Tags.security]) if message.is_serious()]
    if serious:
        raise ImproperlyConfigured("System checks failed:\n" + "\n".join(str(message) for message in serious))
