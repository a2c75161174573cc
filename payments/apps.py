from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from payments import checks  # noqa: F401 - registers the system checks
        from payments.metrics import metrics_connect

        metrics_connect()
