"""Seeds the demo merchant and back-office superuser for ``make run`` (embedded shape only).

Idempotent: the demo credentials live in ``var/demo-credentials.json`` (a developer's machine, never production),
so every ``make run`` prints the same working key and passwords. Besides the superuser it makes one back-office user
per group (``manage.py setup_groups``), so a newcomer can see what Support and Finance may and may not do.
"""

import json
import secrets
from io import StringIO
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from payments.models import ApiKey, Merchant
from payments.services.merchants import api_key_create, api_key_hash, merchant_create

DEMO_EMAIL = "demo@ledgerline.test"
# Back-office demo users: username -> the group (from setup_groups) it belongs to.
DEMO_STAFF = {"support": "Support", "finance": "Finance"}


class Command(BaseCommand):
    help = "Creates (once) the demo merchant and superuser and prints their credentials. Embedded shape only."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="seed even outside the embedded shape")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.EMBEDDED and not options["force"]:
            raise CommandError("seed_demo prints credentials and only runs in the embedded shape (or with --force).")
        path = settings.VAR_DIR / "demo-credentials.json"
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        with transaction.atomic():
            merchant = Merchant.objects.filter(email=DEMO_EMAIL).first()
            secret = stored.get("secret_key")
            if merchant is None:
                merchant, issued = merchant_create(name="Demo Store", email=DEMO_EMAIL)
                if secret is not None:
                    issued.api_key.delete()
                    api_key_create(merchant=merchant, name="demo", secret=secret)
                else:
                    secret = issued.secret
            elif secret is None or not ApiKey.objects.filter(key_hash=api_key_hash(secret)).exists():
                secret = api_key_create(merchant=merchant, name="demo").secret

            passwords = {
                username: stored.get(f"{username}_password") or secrets.token_urlsafe(12)
                for username in ("admin", *DEMO_STAFF)
            }
            user_model = get_user_model()
            if not user_model.objects.filter(username="admin").exists():
                user_model.objects.create_superuser("admin", "admin@ledgerline.test", passwords["admin"])
            call_command("setup_groups", stdout=StringIO())
            for username, group_name in DEMO_STAFF.items():
                user, _ = user_model.objects.get_or_create(
                    username=username, defaults={"email": f"{username}@ledgerline.test", "is_staff": True}
                )
                user.groups.add(Group.objects.get(name=group_name))
            for username, password in passwords.items():
                user = user_model.objects.get(username=username)
                if not user.check_password(password):
                    user.set_password(password)
                    user.save(update_fields=["password"])

        path.parent.mkdir(parents=True, exist_ok=True)
        credentials = {"merchant_id": merchant.id, "secret_key": secret}
        credentials.update({f"{username}_password": password for username, password in passwords.items()})
        path.write_text(json.dumps(credentials))
        path.chmod(0o600)
        self.stdout.write(f"demo merchant: {merchant.id}\n")
        self.stdout.write(f"demo secret key: {secret}\n")
        self.stdout.write(f"back office: user 'admin', password '{passwords['admin']}' (superuser)\n")
        for username, group_name in DEMO_STAFF.items():
            self.stdout.write(f"back office: user '{username}', password '{passwords[username]}' ({group_name})\n")
