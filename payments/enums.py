from django.db import models


class OutboxKind(models.TextChoices):
    EVENT = "event", "Event"  # becomes a merchant-visible Event (evt_…) and its webhook deliveries
    COMMAND = "command", "Command"  # an internal follow-up (execute an attempt, a refund, a payout): a Celery task
