from django.apps import AppConfig


class StripeApiConfig(AppConfig):
    name = "stripe_api"
    verbose_name = "Stripe-compatible API"

    def ready(self) -> None:
        from stripe_api.webhooks import stripe_webhook_format_register

        # Deliveries to endpoints created through /stripe/v1 ask this format for their body and signature header.
        stripe_webhook_format_register()
