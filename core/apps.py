from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform core"

    def ready(self) -> None:
        from core import logging as ledgerline_logging

        ledgerline_logging.configure_structlog()
        ledgerline_logging.connect_request_signals()

        from django.db.models.signals import post_migrate

        from core import database_pooling, database_roles

        database_pooling.register_checks()

        # Not ``sender=self``: Django sends post_migrate only for apps with models, and core has none, so the grant
        # never ran and a database migrated as the owner left the application's role without any privilege.
        post_migrate.connect(database_roles.grant_after_migrate)
