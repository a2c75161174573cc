"""``manage.py write_off <merchant id> <currency> <amount> --reason … --user …``: the platform takes the loss on what a
merchant owes, audited under the named back-office user (who needs the write-off permission, as in the admin)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.services import BackofficeActionError, backoffice_write_off
from payments.models import Merchant


class Command(BaseCommand):
    help = "Write off part or all of what a merchant owes (its negative available balance), with a reason."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("merchant")
        parser.add_argument("currency")
        parser.add_argument("amount", type=int, help="minor units")
        parser.add_argument("--reason", required=True)
        parser.add_argument("--user", required=True, help="the back-office user taking the decision")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        merchant = Merchant.objects.filter(pk=options["merchant"]).first()
        if user is None or merchant is None:
            raise CommandError("no such user or merchant")
        try:
            txn = backoffice_write_off(
                user=user,
                merchant=merchant,
                currency=options["currency"],
                amount=options["amount"],
                reason=options["reason"],
            )
        except BackofficeActionError as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(f"written off: {options['amount']} {options['currency']} of {merchant.id} ({txn.id})")
