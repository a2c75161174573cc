from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import IdempotencyKey
from payments.services.merchants import merchant_create
from payments.tasks import idempotency_keys_delete_expired_task

pytestmark = pytest.mark.django_db


def test_keys_are_kept_24_hours_then_removed_by_the_periodic_task() -> None:
    merchant, _ = merchant_create(name="Acme", email="ops@acme.test")
    for key, age in (("fresh", timedelta(hours=23, minutes=59)), ("old", timedelta(hours=24, minutes=1))):
        row = IdempotencyKey.objects.create(
            merchant=merchant, livemode=False, key=key, fingerprint="f", method="POST", path="/v1/payments"
        )
        IdempotencyKey.objects.filter(pk=row.pk).update(created=timezone.now() - age)

    assert idempotency_keys_delete_expired_task() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
