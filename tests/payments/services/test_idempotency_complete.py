"""The completed row PostgreSQL stores in one insert (``_store``) holds what the embedded shape's claim and ORM
update store."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from payments.enums import IdempotencyStatus
from payments.models import IdempotencyKey
from payments.services import idempotency
from payments.services.idempotency import StoredResponse
from tests.payments.conftest import make_api

pytestmark = pytest.mark.django_db


def _completed(api, key: str, response: StoredResponse) -> IdempotencyKey:
    """The embedded shape's way: the claim, then the ORM's update."""
    with transaction.atomic():
        claimed = idempotency._claim(
            merchant_id=api.merchant.id, livemode=False, key=key, fingerprint="f", method="POST", path="/v1/x"
        )
        assert claimed is not None
        idempotency._complete(claimed, response)
    return IdempotencyKey.objects.get(pk=claimed)


def _stored(api, key: str, response: StoredResponse) -> IdempotencyKey:
    with transaction.atomic():
        assert idempotency._store(
            merchant_id=api.merchant.id,
            livemode=False,
            key=key,
            fingerprint="f",
            method="POST",
            path="/v1/x",
            response=response,
        )
    return IdempotencyKey.objects.get(merchant_id=api.merchant.id, livemode=False, key=key)


def test_the_completion_stores_what_the_orm_stores(monkeypatch):
    api = make_api()
    # DjangoJSONEncoder's types too: the field's own adaptation is used either way.
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = {"id": "pay_1", "amount": 10, "nested": {"at": at, "d": Decimal("1.50")}}
    response = StoredResponse(status=201, body=body, content='{"id":"pay_1"}')
    written = _stored(api, "written-out", response)
    orm = _completed(api, "orm", response)

    assert orm.completed_at is not None
    assert written.completed_at is not None
    assert written.completed_at >= written.created  # the statement's time, as the ORM's Now() on PostgreSQL
    fields = ("status", "response_status", "response_body", "response_content", "fingerprint", "method", "path")
    assert [getattr(written, f) for f in fields] == [getattr(orm, f) for f in fields]
    assert written.status == IdempotencyStatus.COMPLETED
    assert written.response_body == {"id": "pay_1", "amount": 10, "nested": {"at": "2026-01-02T03:04:05Z", "d": "1.50"}}


@pytest.mark.django_db(transaction=True)  # the other request commits on a connection of its own
def test_a_row_committed_under_the_key_while_the_work_ran_wins_and_the_work_is_rolled_back() -> None:
    """The lock check reads the key's absence in its statement's snapshot; a request that committed just before this
    one took the lock is not in it. Its row is found when this one stores its own: this one's work is undone and the
    first response stored is what it answers (the same request never charges twice)."""
    import threading

    from django.db import connections

    from payments.models import Merchant

    api = make_api()
    first = StoredResponse(status=200, body={"id": "first"}, content='{"id":"first"}')

    def other_request_commits() -> None:
        try:
            assert idempotency._store(
                merchant_id=api.merchant.id,
                livemode=False,
                key="raced",
                fingerprint="f",
                method="POST",
                path="/v1/x",
                response=first,
            )
        finally:
            connections.close_all()

    def work() -> StoredResponse:
        Merchant.objects.filter(pk=api.merchant.id).update(name="written by the work")
        thread = threading.Thread(target=other_request_commits)
        thread.start()
        thread.join()
        return StoredResponse(status=200, body={"id": "second"}, content='{"id":"second"}')

    outcome = idempotency.idempotent_execute(
        merchant_id=api.merchant.id,
        livemode=False,
        key="raced",
        method="POST",
        path="/v1/x",
        fingerprint="f",
        work=work,
        on_error=lambda exc: pytest.fail(f"no error expected: {exc!r}"),
    )
    assert (outcome.replayed, outcome.content) == (True, '{"id":"first"}')
    assert Merchant.objects.get(pk=api.merchant.id).name != "written by the work"
    assert IdempotencyKey.objects.filter(merchant_id=api.merchant.id, key="raced").count() == 1
