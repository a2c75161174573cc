import os

from django.core.wsgi import get_wsgi_application

from core.tracing import tracing_configure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Before the application loads its middleware: the Django instrumentation adds its own (core/tracing.py). Each
# gunicorn worker imports this module after the fork, so each sets up its own exporter thread.
tracing_configure(service_name="ledgerline-web", instrument_django=True)
application = get_wsgi_application()

from core.startup import startup_checks  # noqa: E402 - needs the apps loaded by get_wsgi_application

startup_checks()
