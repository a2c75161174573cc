from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back office"
    default_auto_field = "django.db.models.BigAutoField"
    # The audit log is append-only for the application's database role too (core.database_roles).
    append_only_tables = ("backoffice_auditlogentry",)


class LedgerlineAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the Ledgerline site (django-unfold's, plus the one search box) as ``admin.site``."""

    default = False  # named explicitly in INSTALLED_APPS; "backoffice" alone still means BackofficeConfig
    default_site = "backoffice.site.LedgerlineAdminSite"
