"""One settings module, three shapes, chosen by ``LEDGERLINE_ENV``.

* ``embedded`` (the default, no variables needed): SQLite and a file-system Celery broker under ``var/``, so
  ``make run`` works on a machine with no services.
* ``production``: ``SECRET_KEY``, ``DATABASE_URL`` and ``REDIS_URL`` are required; ``DEBUG`` is off and
  ``manage.py check --deploy`` is clean.
* ``test``: PostgreSQL and Redis, with defaults pointing at the local services the test suite starts.

Every variable is documented in the README's configuration section.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

# Lets runtime code subscript Django generics (ModelAdmin[Payment]) the way the type stubs describe them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

LEDGERLINE_ENV: str = env.str("LEDGERLINE_ENV", default="embedded")
if LEDGERLINE_ENV not in {"embedded", "production", "test"}:
    raise ImproperlyConfigured(f"LEDGERLINE_ENV must be embedded, production or test, not {LEDGERLINE_ENV!r}")
EMBEDDED = LEDGERLINE_ENV == "embedded"
PRODUCTION = LEDGERLINE_ENV == "production"
TESTING = LEDGERLINE_ENV == "test"

VAR_DIR = Path(env.str("LEDGERLINE_VAR_DIR", default=str(BASE_DIR / "var")))

if PRODUCTION:
    # env() without a default raises ImproperlyConfigured naming the missing variable.
    SECRET_KEY: str = env.str("SECRET_KEY")
    DEBUG = env.bool("DEBUG", default=False)
else:
    SECRET_KEY = env.str("SECRET_KEY", default="insecure-dev-key-only-for-embedded-and-test-shapes-0123456789")
    DEBUG = env.bool("DEBUG", default=EMBEDDED)

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver", "[::1]"]
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # The back office's theme (django-unfold) must come before django.contrib.admin so its templates win; the admin
    # itself is Django's, with the Ledgerline site (backoffice.site) as its default site.
    "unfold.apps.BasicAppConfig",
    "unfold.contrib.filters",
    "backoffice.apps.LedgerlineAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Back-office sign-in: lockout after repeated failures and TOTP for enrolled staff (backoffice/signin.py).
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_structlog",
    "core",
    "ledger",
    "payments",
    "reconciliation",
    "reports",
    "backoffice",
    "audit",
    "stripe_api",
]

MIDDLEWARE = [
    # Outermost, so the time it measures is the whole answer, redirects and refusals included.
    "core.metrics.RequestMetricsMiddleware",
    # Before any work: a request that waited too long in front of the application is refused at once.
    "core.load_shedding.QueueTimeSheddingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.security_headers.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "core.middleware.RequestIdHeaderMiddleware",
    "core.middleware.LogContextMiddleware",
    "core.middleware.ApiErrorEnvelopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
if EMBEDDED and "DATABASE_URL" not in env:
    DATABASES: dict[str, dict[str, Any]] = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "ledgerline.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes SQLite's write lock at BEGIN, so concurrent writers queue instead of failing
                # with "database is locked" half-way through a transaction.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
else:
    # Two roles (core/database_roles.py): the application connects as one that owns nothing and may only append to
    # the journal; migrations run as the owner (`manage.py migrate --database owner`), which then grants the
    # application's role. The test shape uses both, as deploy/ensure-services.sh creates them.
    DATABASES = {
        "default": env.db_url(
            "DATABASE_URL",
            default="postgres://ledgerline_app:ledgerline_app@127.0.0.1:5432/ledgerline"
            if TESTING
            else environ.Env.NOTSET,
        )
    }
    if "DATABASE_OWNER_URL" in env or TESTING:
        DATABASES["owner"] = env.db_url(
            "DATABASE_OWNER_URL", default="postgres://ledgerline_owner:ledgerline_owner@127.0.0.1:5432/ledgerline"
        )
    if "DATABASE_REPLICA_URL" in env:
        # Optional: a read replica for heavy reads (reports.builders). Nothing is ever written through it; a test
        # database has no replica of its own, so it mirrors the default one.
        DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
        DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    for database in DATABASES.values():
        database.setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
        database["CONN_HEALTH_CHECKS"] = True
    # Behind a pooler in transaction mode (pgbouncer's ``pool_mode = transaction``) each transaction may run on
    # another server session, so nothing may rely on session state (docs/operations.md, "pgbouncer"). Django's
    # server-side cursors do: ``iterator()`` outside a transaction declares a cursor WITH HOLD and fetches from it
    # in later transactions, so they are off for a pooled alias. Prepared statements are off already (Django's
    # psycopg 3 cursors bind on the client and it sets ``prepare_threshold`` to None); advisory locks are
    # transaction-scoped (``pg_try_advisory_xact_lock``) and session settings are ``set_config(…, true)``.
    DATABASE_POOLED: set[str] = {
        alias
        for alias, variable in (
            ("default", "DATABASE_TRANSACTION_POOLING"),
            ("replica", "DATABASE_REPLICA_TRANSACTION_POOLING"),
        )
        if alias in DATABASES and env.bool(variable, default=False)
    }
    for _alias in DATABASE_POOLED:
        DATABASES[_alias]["DISABLE_SERVER_SIDE_CURSORS"] = True
    for _alias in DATABASES.keys() - DATABASE_POOLED:
        # A direct connection keeps prepared statements for its session: the ORM's cursors still bind on the client
        # and never prepare; only the hot path's fixed statements, sent through ``core.db.prepared_cursor``, are
        # prepared from their second use, so PostgreSQL stops parsing and planning them on every request.
        DATABASES[_alias].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 1)
    # The application's connections (not the owner's, which migrates) give up on a statement or a lock wait after
    # these many milliseconds (0 = never): no request holds or waits on a lock for long, and the API answers 503 +
    # Retry-After (core/api/errors.py) with nothing written. pgbouncer refuses the startup option that carries them,
    # so behind it they are set on the role instead, which core/database_pooling.py checks (docs/operations.md).
    DATABASE_TIMEOUTS_MS: dict[str, int] = {
        "statement_timeout": env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=60_000),
        "lock_timeout": env.int("DATABASE_LOCK_TIMEOUT_MS", default=10_000),
    }
    _startup_options = " ".join(f"-c {name}={ms}" for name, ms in DATABASE_TIMEOUTS_MS.items() if ms)
    if _startup_options and "default" not in DATABASE_POOLED:
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _options["options"] = f"{_options.get('options', '')} {_startup_options}".strip()
    if TESTING:
        # Parallel checkouts of the project on one machine must not share a test database.
        DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=None)}

if EMBEDDED:
    # The embedded shape keeps its SQLite file, broker folders, results and cache under VAR_DIR. SQLite cannot create
    # a missing folder, so a fresh clone's first command (`make run` migrates before anything else) must find it.
    for _folder in ("", "broker/queue", "broker/control", "celery-results", "cache"):
        (VAR_DIR / _folder).mkdir(parents=True, exist_ok=True)

# Transactions are explicit in services; a request-wide transaction would hide where atomicity is needed.
ATOMIC_REQUESTS = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery --------------------------------------------------------------------------------
if EMBEDDED and "REDIS_URL" not in env:
    REDIS_URL: str | None = None
    CACHES: dict[str, dict[str, Any]] = {
        # A file cache is shared by every process `make run` starts (throttle counters must be).
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": VAR_DIR / "cache",
        }
    }
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'celery-results'}"
else:
    REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0" if TESTING else environ.Env.NOTSET)
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_RESULT_EXPIRES = 3600
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # The ledger recomputes every balance from its entries nightly; a violation is logged at ERROR.
    "ledger-verify": {"task": "ledger.verify", "schedule": crontab(hour=2, minute=30)},
    # The hash chain over posted transactions (ledger/seal.py): incrementally, and a full pass before verifying.
    "ledger-seal": {"task": "ledger.seal", "schedule": 10.0},
    "ledger-seal-full": {"task": "ledger.seal", "schedule": crontab(hour=2, minute=0), "kwargs": {"full": True}},
}

# --- Auth, i18n, static --------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Back-office sign-in (backoffice/signin.py): this many failures for one username from one address lock that pair
# out for the cool-off; the API's keys are not passwords and are limited by LEDGERLINE_AUTH_FAILURE_RATE instead.
AUTHENTICATION_BACKENDS = ["backoffice.signin.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT: int = env.int("BACKOFFICE_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("BACKOFFICE_LOGIN_COOLOFF_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "backoffice.signin.client_address"
# Proxies in front of the web process that append the client's address to X-Forwarded-For (0: use the peer's).
BACKOFFICE_TRUSTED_PROXIES: int = env.int("BACKOFFICE_TRUSTED_PROXIES", default=0)
OTP_TOTP_ISSUER = "Ledgerline"

if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Only production collects static files; elsewhere whitenoise reads the app folders (and needs no STATIC_ROOT).
STATIC_ROOT = VAR_DIR / "static" if PRODUCTION else None
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
# Outside production whitenoise serves straight from the app folders, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- HTTP security (production shape must pass `check --deploy`) ---------------------------------------------
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Probes and Prometheus reach the web process directly on the private network, not through the TLS proxy.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Sent on every response (core/security_headers.py). Only the platform's own origin: the back office and the API
# docs load nothing from elsewhere. The back office's theme and Alpine.js need inline scripts and eval.
CONTENT_SECURITY_POLICY: str = env.str(
    "CONTENT_SECURITY_POLICY",
    default="; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    if PRODUCTION
    else "",
)

# --- DRF and OpenAPI ------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["payments.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.LedgerlineAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["payments.api.throttling.ApiKeyRateThrottle"],
    "UNAUTHENTICATED_USER": None,
}
# Load shedding (core/load_shedding.py): a request the proxy stamped (X-Request-Start) more than this many
# milliseconds ago is answered 503 + Retry-After before any work. 0 = never.
LEDGERLINE_MAX_QUEUE_MS: float = env.float("LEDGERLINE_MAX_QUEUE_MS", default=1000.0)
# Requests per API key, as "<count>/<s|m|h>" (a fixed window counted in Redis, or the cache when embedded).
LEDGERLINE_API_RATE: str = env.str("LEDGERLINE_API_RATE", default="100/s")
# Failed authentications per client address: without it a bad key could be tried at hundreds of requests a second.
LEDGERLINE_AUTH_FAILURE_RATE: str = env.str("LEDGERLINE_AUTH_FAILURE_RATE", default="60/m")
# How long a process trusts an API key (and its merchant) it read from the database: a revocation made by another
# process takes effect here within this many seconds (one made by this process, at once). 0: no cache.
LEDGERLINE_API_KEY_CACHE_SECONDS: float = env.float("LEDGERLINE_API_KEY_CACHE_SECONDS", default=5.0)
SPECTACULAR_SETTINGS = {
    "TITLE": "Ledgerline API",
    "DESCRIPTION": "The merchant API of Ledgerline: payments, refunds, disputes, balances, payouts, events.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ErrorTypeEnum": "core.api.schema.ERROR_TYPES",
        "PaymentMethodTypeEnum": "payments.enums.PaymentMethodType",
    },
    # Swagger UI from the installed sidecar package: /docs/ works with no CDN (offline machines, strict CSPs).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Links make created ids feed later operations (clients, schemathesis' stateful phase); enums as by default.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.strict_request_bodies_postprocess",
        "payments.api.schema_links.links_postprocess",
    ],
}

# --- Logging: one JSON object per line, from Django, Celery and our code alike -----------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "core.logging.json_formatter"}},
    # The filter redacts card numbers and secrets even from a record that some library formats itself.
    "filters": {"redact": {"()": "core.redaction.RedactingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # django_structlog logs every request itself; Django's own request/server lines would be duplicates.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# An upstream proxy or the merchant may send X-Request-Id; reusing it lets both sides correlate their logs.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True

# --- Metrics (core/metrics.py) -------------------------------------------------------------------------------
# Prometheus scrapes /metrics with `Authorization: Bearer <METRICS_TOKEN>`. Without a token the page answers only
# on loopback, and in the production shape not at all: set METRICS_TOKEN there.
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
METRICS_OPEN_ON_LOOPBACK: bool = not PRODUCTION

# --- Ledgerline ----------------------------------------------------------------------------------------------
# The PSP sandbox (sandbox/, a separate program): where make run starts it and where its connectors call it.
SANDBOX_HOST: str = env.str("SANDBOX_HOST", default="127.0.0.1")
SANDBOX_PORT: int = env.int("SANDBOX_PORT", default=8100)
SANDBOX_URL: str = env.str("SANDBOX_URL", default=f"http://{SANDBOX_HOST}:{SANDBOX_PORT}")
# Where payers reach this platform: the hosted checkout page's address (``url`` of a checkout session) starts here.
# Production serves it over HTTPS only (a system check refuses anything else); by default at its first host name.
LEDGERLINE_BASE_URL: str = env.str(
    "LEDGERLINE_BASE_URL",
    default=f"https://{ALLOWED_HOSTS[0]}" if PRODUCTION and ALLOWED_HOSTS else "http://127.0.0.1:8000",
)

# --- Payment providers ---------------------------------------------------------------------------------------
# One entry per provider account: the connector class, where it lives, its credentials, its timeouts, the Celery
# queue its calls run on (a bulkhead: a slow provider only fills its own queue) and its circuit breaker.
PSP_CONNECT_TIMEOUT: float = env.float("PSP_CONNECT_TIMEOUT", default=2.0)
PSP_READ_TIMEOUT: float = env.float("PSP_READ_TIMEOUT", default=10.0)
PSP_CIRCUIT: dict[str, float] = {
    "failure_threshold": env.int("PSP_CIRCUIT_FAILURE_THRESHOLD", default=5),
    "window_seconds": env.float("PSP_CIRCUIT_WINDOW_SECONDS", default=30.0),
    "cooldown_seconds": env.float("PSP_CIRCUIT_COOLDOWN_SECONDS", default=15.0),
}
# A provider is one connector class plus an entry here: its class, base URL and credentials (and, optionally, its
# timeouts, queue and circuit). Credentials come from PSP_<NAME>_API_KEY and PSP_<NAME>_WEBHOOK_SECRET, the base URL
# may be moved with PSP_<NAME>_BASE_URL. Outside production the credentials default to the sandbox's published ones;
# in production they have no default, and a system check stops start-up while any is missing or still the
# sandbox's (payments/checks.py).
PSP_CONNECTOR_CLASSES: dict[str, str] = env.json(
    "PSP_CONNECTOR_CLASSES",
    default={
        "card_a": "payments.connectors.sandbox_card.SandboxCardConnector",
        "card_b": "payments.connectors.sandbox_card.SandboxCardConnector",
        # A third acquirer, off the default route: merchants or deployments route to it with PSP_ROUTING.
        "card_c": "payments.connectors.sandbox_card.SandboxCardConnector",
        "upi": "payments.connectors.sandbox_upi.SandboxUpiConnector",
    },
)
PSP_CONNECTORS: dict[str, dict[str, Any]] = {
    name: {
        "class": connector_class,
        "base_url": env.str(f"PSP_{name.upper()}_BASE_URL", default=f"{SANDBOX_URL}/{name}"),
        "api_key": env.str(f"PSP_{name.upper()}_API_KEY", default="" if PRODUCTION else f"sandbox_{name}_key"),
        "webhook_secret": env.str(
            f"PSP_{name.upper()}_WEBHOOK_SECRET", default="" if PRODUCTION else f"whsec_sandbox_{name}"
        ),
        "connect_timeout": PSP_CONNECT_TIMEOUT,
        "read_timeout": PSP_READ_TIMEOUT,
        "queue": f"psp.{name}",
        "circuit": PSP_CIRCUIT,
        # Mutual TLS, as acquirers require: PEM paths of the CA that signs the provider's certificate (instead of the
        # public CAs) and of the client certificate and key this account presents (payments/connectors/http.py).
        "tls": {
            "ca_bundle": env.str(f"PSP_{name.upper()}_CA_BUNDLE", default=""),
            "client_cert": env.str(f"PSP_{name.upper()}_CLIENT_CERT", default=""),
            "client_key": env.str(f"PSP_{name.upper()}_CLIENT_KEY", default=""),
        },
    }
    for name, connector_class in PSP_CONNECTOR_CLASSES.items()
}
# Per payment method, the connectors to try in order; the next one only when the call provably never reached the
# previous one (or it says the charge does not exist). Merchants may override this later.
PSP_ROUTING: dict[str, list[str]] = env.json("PSP_ROUTING", default={"card": ["card_a", "card_b"], "upi": ["upi"]})
# The provider queues' workers (one per connector) run a thread pool: an attempt spends most of its time waiting on
# PostgreSQL and the provider, and the executor keeps no per-process state that threads could share unsafely (each
# thread has its own database connection; the provider HTTP client is thread-safe). On SQLite, where writers queue
# for one file lock, two processes do as well without the lock waits, so the embedded shape keeps prefork.
_SQLITE = DATABASES["default"]["ENGINE"].endswith("sqlite3")
PSP_WORKER_POOL: str = env.str("PSP_WORKER_POOL", default="prefork" if _SQLITE else "threads")
PSP_WORKER_CONCURRENCY: int = env.int("PSP_WORKER_CONCURRENCY", default=2 if _SQLITE else 8)

# Keys the HMACs of card numbers (card.fingerprint) and of idempotent request bodies. Changing it changes every
# card fingerprint, so production sets its own and keeps it; elsewhere it derives from SECRET_KEY.
LEDGERLINE_FINGERPRINT_SECRET: str = env.str("LEDGERLINE_FINGERPRINT_SECRET", default=f"fingerprint:{SECRET_KEY}")
# The card vault's key-encryption keys (payments/vault.py): ``id:base64`` pairs of 32 random bytes, comma separated,
# and the id new entries are wrapped under (default: the last one). Several at once is what rotation needs:
# add a key, make it active, ``manage.py vault_rewrap``, drop the old one. Production has no default and a system
# check refuses to start without a real key (payments.E003/E004); elsewhere a fixed, public development key.
LEDGERLINE_VAULT_KEYS: str = env.str(
    "LEDGERLINE_VAULT_KEYS", default="" if PRODUCTION else "dev:bGVkZ2VybGluZS1kZXYtdmF1bHQta2V5LTMyYnl0ZXM="
)
LEDGERLINE_VAULT_ACTIVE_KEY: str = env.str("LEDGERLINE_VAULT_ACTIVE_KEY", default="")
# Keys the MAC of every journal transaction and the ledger's hash chain (ledger/seal.py). It must live outside the
# database (the environment), so that someone who can write to the database cannot forge a row that verifies.
# Production sets its own and keeps it; elsewhere it derives from SECRET_KEY.
# A provider's clock that differs from ours by more than this is flagged on the balance transaction it dated (the
# provider's time is kept there as a fact; availability and ordering always use our clock).
LEDGER_CLOCK_SKEW_FLAG_SECONDS: int = env.int("LEDGER_CLOCK_SKEW_FLAG_SECONDS", default=300)
LEDGER_SEAL_KEY: str = env.str("LEDGER_SEAL_KEY", default=f"ledger-seal:{SECRET_KEY}")
# Idempotency keys are kept at least this long (the contract says 24 hours), then the beat task removes them.
IDEMPOTENCY_KEY_TTL_HOURS: int = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# The Stripe-compatible API answers a card confirm with its outcome when the provider answers within this long
# (Stripe's SDK users expect it), and with ``processing`` otherwise.
STRIPE_API_CONFIRM_WAIT_SECONDS: float = env.float("STRIPE_API_CONFIRM_WAIT_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE.update(
    {
        "idempotency-keys-delete-expired": {"task": "payments.idempotency_keys_delete_expired", "schedule": 3600.0},
        "payments-expire-overdue": {"task": "payments.payments_expire_overdue", "schedule": 60.0},
        "checkout-sessions-expire-overdue": {"task": "payments.checkout_sessions_expire_overdue", "schedule": 60.0},
    }
)

# --- Payment attempts (the executor) -------------------------------------------------------------------------
# A claimed attempt whose worker has said nothing for this long is presumed dead; the janitor asks the provider.
PSP_ATTEMPT_STALE_SECONDS: float = env.float("PSP_ATTEMPT_STALE_SECONDS", default=PSP_READ_TIMEOUT * 3 + 30)
# When the janitor asks the provider again about an attempt whose outcome is unknown (seconds after the call,
# then after each check); after the last one it keeps asking daily and flags the attempt for a person.
PSP_UNKNOWN_RECHECK_SCHEDULE: list[float] = [15, 60, 300, 1800, 7200, 86400]
# How often the provider is polled about a payment waiting for the payer (UPI), in case its callback is lost.
PSP_ACTION_POLL_SECONDS: float = env.float("PSP_ACTION_POLL_SECONDS", default=30.0)
# A payment whose calls provably never reached a provider is tried again this many times (with backoff) before
# it fails with provider_unavailable.
PSP_MAX_ATTEMPTS_PER_PAYMENT: int = env.int("PSP_MAX_ATTEMPTS_PER_PAYMENT", default=4)
PSP_RETRY_BASE_SECONDS: float = env.float("PSP_RETRY_BASE_SECONDS", default=2.0)
PSP_RETRY_CAP_SECONDS: float = env.float("PSP_RETRY_CAP_SECONDS", default=60.0)
# Backpressure: confirm answers 503 + Retry-After once a provider queue holds more than this many tasks.
PSP_QUEUE_MAX_DEPTH: int = env.int("PSP_QUEUE_MAX_DEPTH", default=2000)
PSP_JANITOR_INTERVAL_SECONDS: float = env.float("PSP_JANITOR_INTERVAL_SECONDS", default=5.0)
# The platform's price per payment method when a merchant has no MerchantPricing row (basis points + fixed).
PRICING_DEFAULTS: dict[str, dict[str, int]] = {
    "card": {"fee_bps": 290, "fee_fixed": 30},
    "upi": {"fee_bps": 30, "fee_fixed": 0},
}
CELERY_BEAT_SCHEDULE.update(
    {"payments-attempts-janitor": {"task": "payments.attempts_janitor", "schedule": PSP_JANITOR_INTERVAL_SECONDS}}
)
# A provider webhook stored but not applied this long after it arrived (its task died with a worker, or met the
# database restarting) is handed out again by the sweep; applying one twice is a no-op.
PROVIDER_EVENT_RETRY_SECONDS: float = env.float("PROVIDER_EVENT_RETRY_SECONDS", default=60.0)
PROVIDER_EVENT_SWEEP_SECONDS: float = env.float("PROVIDER_EVENT_SWEEP_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE.update(
    {
        "payments-provider-events-sweep": {
            "task": "payments.provider_events_sweep",
            "schedule": PROVIDER_EVENT_SWEEP_SECONDS,
        }
    }
)

# --- Events and webhooks -------------------------------------------------------------------------------------
# Webhook URLs resolving to loopback, private, link-local (cloud metadata) or otherwise non-public addresses are
# refused (SSRF). Only the test suite and the embedded demo, whose receivers listen on loopback, allow them.
WEBHOOKS_ALLOW_PRIVATE_NETWORKS: bool = env.bool("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", default=not PRODUCTION)
WEBHOOKS_QUEUE = "webhooks"
WEBHOOKS_CONCURRENCY = env.int("WEBHOOKS_CONCURRENCY", default=8)  # threads of the webhooks worker
WEBHOOKS_TIMEOUT_SECONDS = 10.0  # the contract: a 2xx within 10 s is success
WEBHOOKS_RETRY_WINDOW_SECONDS = 3 * 24 * 3600  # the contract: retried for up to 3 days
# The retry schedule: the first retry after this many seconds, doubling up to the cap (production: 1 min to 12 h;
# the demo and tests want seconds).
WEBHOOKS_RETRY_BASE_SECONDS: float = env.float("WEBHOOKS_RETRY_BASE_SECONDS", default=60.0)
WEBHOOKS_RETRY_CAP_SECONDS: float = env.float("WEBHOOKS_RETRY_CAP_SECONDS", default=12 * 3600.0)
# An endpoint failing without a single success for this long (and at least this many times) is disabled.
WEBHOOKS_DISABLE_AFTER_SECONDS = env.int("WEBHOOKS_DISABLE_AFTER_SECONDS", default=3 * 24 * 3600)
WEBHOOKS_DISABLE_AFTER_FAILURES = env.int("WEBHOOKS_DISABLE_AFTER_FAILURES", default=10)
# Deliveries one endpoint may have in flight at once, so a slow endpoint cannot occupy every webhook worker.
WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT = env.int("WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT", default=4)
EVENTS_RETENTION_DAYS = 30
CELERY_BEAT_SCHEDULE.update(
    {
        # The safety net behind the after-commit enqueue: due retries, and deliveries whose task was lost.
        "webhooks-dispatch-due": {"task": "payments.webhooks_dispatch_due", "schedule": 10.0},
        "events-prune": {"task": "payments.events_prune", "schedule": 3600.0},
    }
)

# --- Email (endpoint-disabled alerts) ------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Ledgerline <no-reply@ledgerline.test>")

# --- Refunds, balances, payouts, disputes (issue 7) ------------------------------------------------------------
# Captured funds stay pending this long before the release task moves them to available.
BALANCE_PENDING_SECONDS: int = env.int("BALANCE_PENDING_SECONDS", default=2 * 24 * 3600)
# The simulated bank: a payout in transit is paid this long after it was sent.
PAYOUT_TRANSIT_SECONDS: int = env.int("PAYOUT_TRANSIT_SECONDS", default=24 * 3600)
# What a member of the Support group may refund of one payment in total from the back office (minor units of the
# payment's currency): a running total of the payment's back-office refunds, checked under its row lock.
BACKOFFICE_SUPPORT_REFUND_LIMIT: int = env.int("BACKOFFICE_SUPPORT_REFUND_LIMIT", default=50_000)
# The back office (django-unfold): Ledgerline's name, colour, navigation and search box live in backoffice.site.
UNFOLD: dict[str, Any] = {
    "SITE_TITLE": "Ledgerline back office",
    "SITE_HEADER": "Ledgerline",
    "SITE_SUBHEADER": "Back office",
    "SITE_SYMBOL": "account_balance",
    "SITE_URL": "/admin/",
    "SITE_FAVICONS": "backoffice.site.favicons",
    "SHOW_HISTORY": False,  # Django's change history is empty here: the audit log is the history of actions
    "SHOW_VIEW_ON_SITE": False,
    "ENVIRONMENT": "backoffice.site.environment",
    "STYLES": ["backoffice.site.stylesheet"],
    "COLORS": {"primary": "backoffice.site.primary_colors"},
    "SIDEBAR": {"show_search": False, "show_all_applications": True, "navigation": "backoffice.site.navigation"},
}
DISPUTE_EVIDENCE_MAX_BYTES: int = env.int("DISPUTE_EVIDENCE_MAX_BYTES", default=5 * 1024 * 1024)
DISPUTE_EVIDENCE_CONTENT_TYPES: list[str] = ["application/pdf", "image/png", "image/jpeg"]
CELERY_BEAT_SCHEDULE.update(
    {
        "balances-release-due": {"task": "payments.funds_release_due", "schedule": 60.0},
        "payouts-advance-due": {"task": "payments.payouts_advance_due", "schedule": 60.0},
    }
)

# --- Reconciliation --------------------------------------------------------------------------------------------
# A capture on day T is expected in the provider's file of T + lag; absent then it is `timing`, and still absent
# this many days later `missing_at_provider`. Runs look back this many days for captures the provider never settled.
RECONCILIATION_SETTLEMENT_LAG_DAYS: int = env.int("RECONCILIATION_SETTLEMENT_LAG_DAYS", default=1)
RECONCILIATION_MISSING_AFTER_DAYS: int = env.int("RECONCILIATION_MISSING_AFTER_DAYS", default=2)
RECONCILIATION_LOOKBACK_DAYS: int = env.int("RECONCILIATION_LOOKBACK_DAYS", default=14)
# A run finding more new discrepancies than this logs at ERROR, mails the Finance group and counts an alert.
RECONCILIATION_ALERT_THRESHOLD: int = env.int("RECONCILIATION_ALERT_THRESHOLD", default=0)
RECONCILIATION_FINANCE_GROUP = "Finance"
# PostgreSQL work_mem for the matching statement only (SET LOCAL): its joins and aggregates stay in memory.
RECONCILIATION_WORK_MEM: str = env.str("RECONCILIATION_WORK_MEM", default="256MB")
CELERY_BEAT_SCHEDULE.update(
    {
        "reconciliation-nightly": {
            "task": "reconciliation.reconcile_nightly",
            "schedule": crontab(hour=3, minute=0),
        }
    }
)
