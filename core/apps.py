from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform core"

    def ready(self) -> None:
        from core import logging as ledgerline_logging

        ledgerline_logging.configure_structlog()
        ledgerline_logging.connect_request_signals()

        from django.db.models.signals import post_migrate

        from core import database_roles

        post_migrate.connect(database_roles.grant_after_migrate, sender=self)
