"""The idempotency completion written out as SQL on PostgreSQL stores what the ORM's update stores."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction

from payments.enums import IdempotencyStatus
from payments.models import IdempotencyKey
from payments.services import idempotency
from payments.services.idempotency import StoredResponse
from tests.payments.conftest import make_api

pytestmark = pytest.mark.django_db


def _completed(api, key: str, response: StoredResponse) -> IdempotencyKey:
    with transaction.atomic():
        claimed = idempotency._claim(
            merchant_id=api.merchant.id, livemode=False, key=key, fingerprint="f", method="POST", path="/v1/x"
        )
        assert claimed is not None
        idempotency._complete(claimed, response)
    return IdempotencyKey.objects.get(pk=claimed)


def test_the_completion_stores_what_the_orm_stores(monkeypatch):
    api = make_api()
    # DjangoJSONEncoder's types too: the field's own adaptation is used either way.
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = {"id": "pay_1", "amount": 10, "nested": {"at": at, "d": Decimal("1.50")}}
    response = StoredResponse(status=201, body=body, content='{"id":"pay_1"}')
    written = _completed(api, "written-out", response)
    with monkeypatch.context() as patched:
        patched.setattr(connection, "vendor", "not-postgresql")  # the ORM's update, as on SQLite
        orm = _completed(api, "orm", response)

    assert orm.completed_at is not None
    assert written.completed_at is not None
    assert written.completed_at >= written.created  # the statement's time, as the ORM's Now() on PostgreSQL
    fields = ("status", "response_status", "response_body", "response_content")
    assert [getattr(written, f) for f in fields] == [getattr(orm, f) for f in fields]
    assert written.status == IdempotencyStatus.COMPLETED
    assert written.response_body == {"id": "pay_1", "amount": 10, "nested": {"at": "2026-01-02T03:04:05Z", "d": "1.50"}}
