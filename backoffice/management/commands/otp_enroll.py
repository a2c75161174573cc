"""``manage.py otp_enroll USERNAME``: enrolls a member of staff's authenticator app (TOTP) for the back office.

Two steps, so that a badly scanned secret never locks anyone out:

1. ``otp_enroll USERNAME`` prints an ``otpauth://`` address and its QR code for the user to scan (the device is not
   yet required);
2. ``otp_enroll USERNAME --confirm CODE`` with a code the app shows: from then on that user signs in with a code.

``otp_enroll USERNAME --remove`` removes the user's devices (a lost phone); they sign in with the password alone
until they enroll again. The secret is shown once, to whoever runs the command: run it with the user present.
"""

from __future__ import annotations

import io
from argparse import ArgumentParser
from typing import Any

import segno
import structlog
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

logger = structlog.get_logger(__name__)

DEVICE_NAME = "authenticator"


class Command(BaseCommand):
    help = "Enrolls (then confirms, or removes) a staff user's authenticator app for the back office's sign-in."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--confirm", metavar="CODE", help="a code from the app: makes the device required")
        action.add_argument("--remove", action="store_true", help="removes the user's devices")

    def handle(self, *args: Any, username: str, confirm: str | None, remove: bool, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        with transaction.atomic():
            if remove:
                removed = sum(device.delete()[0] for device in devices_for_user(user, confirmed=None))
                logger.info("otp_devices_removed", username=username, devices=removed)
                self.stdout.write(f"{username}: {removed} device(s) removed; the password alone signs in now")
                return
            if confirm is not None:
                self._confirm(user, confirm.strip())
                return
            if any(devices_for_user(user, confirmed=True)):
                raise CommandError(f"{username} already has an authenticator: --remove it first")
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
        url = device.config_url
        self.stdout.write(f"Scan this with {username}'s authenticator app, or enter the address by hand:\n{url}\n")
        drawing = io.StringIO()
        segno.make(url).terminal(out=drawing, compact=True)
        self.stdout.write(drawing.getvalue(), ending="")
        self.stdout.write(f"\nthen: manage.py otp_enroll {username} --confirm <the code the app shows>")

    def _confirm(self, user: Any, code: str) -> None:
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            raise CommandError(f"{user.username} has no device waiting for confirmation: enroll first")
        if not device.verify_token(code):
            raise CommandError("that code does not match: check the phone's clock and try the next code")
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        logger.info("otp_device_confirmed", username=user.username, device_id=device.pk)
        self.stdout.write(f"{user.username}: authenticator confirmed; the back office asks for a code from now on")
