import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from core.startup import startup_checks  # noqa: E402 - needs the apps loaded by get_wsgi_application

startup_checks()
