import os

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_init, worker_process_init
from django_structlog.celery.steps import DjangoStructLogInitStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ledgerline")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Carries the request id (and any other bound log context) from the enqueuing request into the task.
app.steps["worker"].add(DjangoStructLogInitStep)
app.autodiscover_tasks()
# Queue wait and run time of every task (Prometheus); the receivers connect on import.
import core.task_metrics  # noqa: E402, F401


@setup_logging.connect
def _use_django_logging(**_: object) -> None:
    # Celery would otherwise install its own plain-text handlers; the platform logs JSON everywhere.
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@worker_init.connect
@beat_init.connect
def _refuse_to_start_misconfigured(**_: object) -> None:
    import sys

    from django.core.exceptions import ImproperlyConfigured

    from core.startup import startup_checks

    try:
        startup_checks()
    except ImproperlyConfigured as exc:
        # Celery logs and swallows exceptions raised by signal receivers; only an exit stops the process.
        print(exc, file=sys.stderr)  # noqa: T201 - the operator must see why the worker did not start
        raise SystemExit(1) from exc


@worker_init.connect
@worker_process_init.connect
def _trace(**_: object) -> None:
    # worker_process_init in each prefork child (after the fork, as the exporter's thread requires); worker_init for
    # the solo and threads pools, which have no children. Off unless OTEL_* variables ask (core/tracing.py).
    from core.tracing import tracing_configure

    tracing_configure(service_name="ledgerline-worker")
