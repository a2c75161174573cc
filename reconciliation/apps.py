from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"

    def ready(self) -> None:
        from reconciliation.metrics import metrics_connect

        metrics_connect()
