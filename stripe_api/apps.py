from django.apps import AppConfig


class StripeApiConfig(AppConfig):
    name = "stripe_api"
    verbose_name = "Stripe-compatible API"
