from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform core"

    def ready(self) -> None:
        from core import logging as ledgerline_logging

        ledgerline_logging.configure_structlog()
        ledgerline_logging.connect_request_signals()
