from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back office"
    default_auto_field = "django.db.models.BigAutoField"
    # The audit log is append-only for the application's database role too (core.database_roles).
    append_only_tables = ("backoffice_auditlogentry",)
