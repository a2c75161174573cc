"""The one settings module in each of its three shapes, loaded in a fresh interpreter as the process would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import processes

_DUMP = """
import json, django
django.setup()
from django.conf import settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "env": s.LEDGERLINE_ENV, "debug": s.DEBUG, "engine": db["ENGINE"], "db_name": str(db["NAME"]),
    "transaction_mode": db.get("OPTIONS", {}).get("transaction_mode"), "broker": s.CELERY_BROKER_URL,
    "cache": s.CACHES["default"]["BACKEND"], "atomic_requests": s.ATOMIC_REQUESTS,
}))
"""

REDIS_TLS = "rediss://cache.internal:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/ll/redis-ca.pem"
PRODUCTION = {
    "LEDGERLINE_ENV": "production",
    "SECRET_KEY": "x7#Qm2!pL9vR4zT8wY1uK6nB3cF5hJ0dG_eA-sW%oI^xV*r8Lp2Zq0Nt4Mb",
    # Services on other machines, reached over verified TLS (docs/operations.md; else ledgerline.W040/W041).
    "DATABASE_URL": "postgres://app:pw@db.internal:5432/ledgerline?sslmode=verify-full&sslrootcert=/etc/ll/db-ca.pem",
    "REDIS_URL": REDIS_TLS,
    "ALLOWED_HOSTS": "api.ledgerline.example",
    # Every connector's credentials, as a provider would issue them (never the sandbox's published ones).
    **{
        f"PSP_{name}_{kind}": f"{kind.lower()}-issued-for-{name.lower()}-9f2c41d7"
        for name in ("CARD_A", "CARD_B", "CARD_C", "UPI")
        for kind in ("API_KEY", "WEBHOOK_SECRET")
    },
    # The card vault's key-encryption key: 32 random bytes only this deployment knows.
    "LEDGERLINE_VAULT_KEYS": "k2026:3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGho=",
}


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=processes.ROOT,
        env=processes.clean_env(**env),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _load(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-c", _DUMP], {"DJANGO_SETTINGS_MODULE": "config.settings", **env})


def _settings(env: dict[str, str]) -> dict[str, object]:
    result = _load(env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_shape_needs_no_services(tmp_path):
    loaded = _settings({"LEDGERLINE_VAR_DIR": str(tmp_path)})
    assert loaded["env"] == "embedded"
    assert loaded["debug"] is True
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["db_name"].startswith(str(tmp_path))
    # Writers must queue at BEGIN instead of failing mid-transaction with "database is locked".
    assert loaded["transaction_mode"] == "IMMEDIATE"
    assert loaded["broker"] == "filesystem://"
    assert loaded["cache"].endswith("FileBasedCache")
    assert loaded["atomic_requests"] is False


def test_embedded_shape_migrates_into_a_var_folder_that_does_not_exist_yet(tmp_path):
    """A fresh clone has no var/: `make run` migrates first, and SQLite cannot create the folder itself."""
    var = tmp_path / "var"
    result = _run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], {"LEDGERLINE_VAR_DIR": str(var)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (var / "ledgerline.sqlite3").is_file()


def test_embedded_shape_uses_services_when_urls_are_given():
    loaded = _settings({"DATABASE_URL": "postgres://u:p@127.0.0.1:5432/x", "REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert loaded["env"] == "embedded"
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["broker"] == "redis://127.0.0.1:6379/3"
    assert loaded["cache"].endswith("RedisCache")


def test_test_shape_defaults_to_local_postgres_and_redis():
    loaded = _settings({"LEDGERLINE_ENV": "test"})
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["broker"].startswith("redis://127.0.0.1:6379")
    assert loaded["debug"] is False


def test_production_shape_reads_every_service_from_the_environment():
    loaded = _settings(PRODUCTION)
    assert loaded["debug"] is False
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["db_name"] == "ledgerline"
    assert loaded["broker"] == REDIS_TLS


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_production_shape_refuses_to_start_without_required_variable(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = _load(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_unknown_shape_is_refused():
    result = _load({"LEDGERLINE_ENV": "staging"})
    assert result.returncode != 0
    assert "LEDGERLINE_ENV" in result.stderr


def test_production_shape_passes_the_deployment_checklist():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=processes.ROOT,
        env=processes.clean_env(**PRODUCTION),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "check_id"),
    [
        ("PSP_UPI_WEBHOOK_SECRET", None, "payments.E001"),
        ("PSP_CARD_B_API_KEY", "", "payments.E001"),
        ("PSP_CARD_A_WEBHOOK_SECRET", "whsec_sandbox_card_a", "payments.E002"),
        ("PSP_UPI_API_KEY", "sandbox_upi_key", "payments.E002"),
        ("LEDGERLINE_VAULT_KEYS", None, "payments.E003"),
        ("LEDGERLINE_VAULT_KEYS", "k1:c2hvcnQ=", "payments.E003"),
        ("LEDGERLINE_VAULT_KEYS", "dev:bGVkZ2VybGluZS1kZXYtdmF1bHQta2V5LTMyYnl0ZXM=", "payments.E004"),
        ("LEDGERLINE_BASE_URL", "http://pay.ledgerline.example", "payments.E006"),
    ],
    ids=[
        "missing",
        "empty",
        "sandbox-webhook-secret",
        "sandbox-api-key",
        "no-vault-key",
        "short-vault-key",
        "dev-vault-key",
        "plain-http-checkout",
    ],
)
def test_production_does_not_start_on_missing_or_sandbox_credentials(variable, value, check_id):
    env = {k: v for k, v in PRODUCTION.items() if k != variable}
    if value is not None:
        env[variable] = value
    for command in (["manage.py", "check", "--deploy"], ["manage.py", "check"], ["-c", "import config.wsgi"]):
        result = _run([sys.executable, *command], env)
        assert result.returncode != 0, command
        assert check_id in result.stderr, (command, result.stderr)
        assert variable in result.stderr, (command, result.stderr)
    # A worker exits before it ever connects to the broker (nothing listens on this port).
    worker = _run(
        [str(processes.BIN / "celery"), "-A", "config", "worker", "--pool", "solo"],
        {**env, "REDIS_URL": "redis://127.0.0.1:1/0"},
    )
    assert worker.returncode != 0
    assert check_id in worker.stderr


def test_credentials_default_to_the_sandboxs_outside_production():
    result = _run([sys.executable, "manage.py", "check"], {"LEDGERLINE_ENV": "test"})
    assert result.returncode == 0, result.stdout + result.stderr
