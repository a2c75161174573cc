import os

from celery import Celery
from celery.signals import setup_logging
from django_structlog.celery.steps import DjangoStructLogInitStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ledgerline")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Carries the request id (and any other bound log context) from the enqueuing request into the task.
app.steps["worker"].add(DjangoStructLogInitStep)
app.autodiscover_tasks()


@setup_logging.connect
def _use_django_logging(**_: object) -> None:
    # Celery would otherwise install its own plain-text handlers; the platform logs JSON everywhere.
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
