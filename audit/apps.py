from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The independent auditor (``manage.py audit``): reads the database, the API and the provider's own records
    and reports every way they disagree. Nothing in the product imports it."""

    name = "audit"
