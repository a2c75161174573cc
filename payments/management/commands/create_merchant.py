from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from payments.enums import LateSuccessPolicy
from payments.services.merchants import merchant_create


class Command(BaseCommand):
    help = "Creates a merchant and prints its id and a secret API key (shown once, stored only as a hash)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--email", required=True)
        parser.add_argument("--live", action="store_true", help="issue an sk_live_ key instead of sk_test_")
        parser.add_argument(
            "--late-success-policy",
            choices=LateSuccessPolicy.values,
            default=LateSuccessPolicy.REFUND,
            help="money a UPI provider takes after the payment failed: refund it automatically, or fulfil",
        )
        parser.add_argument(
            "--allow-duplicate-email",
            action="store_true",
            help="create it even if another merchant has this email (refused otherwise)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            merchant, issued = merchant_create(
                name=options["name"],
                email=options["email"],
                livemode=options["live"],
                upi_late_success_policy=options["late_success_policy"],
                refuse_duplicate_email=not options["allow_duplicate_email"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(f"merchant_id: {merchant.id}\n")
        self.stdout.write(f"secret_key: {issued.secret}\n")
        self.stderr.write("Store the secret key now: it cannot be shown again.\n")
