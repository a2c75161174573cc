"""``manage.py setup_groups``: creates (or brings up to date) the Support and Finance groups and their permissions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction

SUPPORT = [
    "payments.view_payment",
    "payments.view_paymentattempt",
    "payments.view_refund",
    "payments.view_dispute",
    "payments.view_merchant",
    "payments.view_customer",
    "payments.view_paymentmethod",
    "backoffice.refund_payment",
    "backoffice.capture_payment",
    "backoffice.cancel_payment",
    "backoffice.resolve_attempt",
    "backoffice.handle_dispute",
    "backoffice.detach_payment_method",
    "backoffice.view_auditlogentry",
]
FINANCE = [
    "payments.view_payment",
    "payments.view_refund",
    "payments.view_dispute",
    "payments.view_payout",
    "payments.view_merchant",
    "payments.view_merchantpricing",
    "backoffice.manage_payouts",
    "backoffice.view_reports",
    "backoffice.write_off_balance",
    "backoffice.view_auditlogentry",
    "ledger.view_account",
    "ledger.view_journaltransaction",
    "ledger.view_journalentry",
    "reconciliation.resolve_discrepancy",
]
GROUPS = {"Support": SUPPORT, "Finance": FINANCE}


def _permissions(names: list[str], app_labels_view: list[str]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".")
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is None:
            raise LookupError(f"permission {name} does not exist (migrations not applied?)")
        found.append(permission)
    # Finance reads reconciliation too, whatever models that app has.
    found += list(Permission.objects.filter(content_type__app_label__in=app_labels_view, codename__startswith="view_"))
    return found


class Command(BaseCommand):
    help = "Create or update the Support and Finance groups with their permissions (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            for name, permissions in GROUPS.items():
                group, created = Group.objects.get_or_create(name=name)
                group.permissions.set(_permissions(permissions, ["reconciliation"] if name == "Finance" else []))
                self.stdout.write(
                    f"{'created' if created else 'updated'} {name}: {group.permissions.count()} permissions"
                )
