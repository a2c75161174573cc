"""Seeds the demo merchant and back-office superuser for ``make run`` (embedded shape only).

Idempotent: the demo credentials live in ``var/demo-credentials.json`` (a developer's machine, never production),
so every ``make run`` prints the same working key and password.
"""

import json
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from payments.models import ApiKey, Merchant
from payments.services.merchants import api_key_create, api_key_hash, merchant_create

DEMO_EMAIL = "demo@ledgerline.test"


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

            password = stored.get("admin_password") or secrets.token_urlsafe(12)
            user_model = get_user_model()
            admin = user_model.objects.filter(username="admin").first()
            if admin is None:
                user_model.objects.create_superuser("admin", "admin@ledgerline.test", password)
            elif not admin.check_password(password):
                admin.set_password(password)
                admin.save(update_fields=["password"])

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"merchant_id": merchant.id, "secret_key": secret, "admin_password": password}))
        path.chmod(0o600)
        self.stdout.write(f"demo merchant: {merchant.id}\n")
        self.stdout.write(f"demo secret key: {secret}\n")
        self.stdout.write(f"back office: user 'admin', password '{password}'\n")
