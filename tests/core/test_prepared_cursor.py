"""``core.db.prepared_cursor``: the hot path's fixed statements are parsed and planned once per connection, the
ORM's are not prepared at all, and behind a transaction pooler nothing is (a prepared statement lives in one server
session, which the pooler does not keep for a client)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.utils import IntegrityError
from django.test.utils import CaptureQueriesContext

from core.db import prepared_cursor

_PROBE = "SELECT %s::int + 41 AS prepared_cursor_probe"


def _prepared(marker: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{marker}%"])
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def fresh_connection() -> Iterator[None]:
    connection.close()  # a new session: no statement prepared yet
    yield
    connection.close()


@pytest.mark.django_db(transaction=True)  # reconnects, which a test wrapped in a transaction cannot
def test_a_statement_sent_twice_is_prepared_once_and_answers_the_same(fresh_connection: None) -> None:
    for _ in range(3):
        with prepared_cursor() as cursor:
            cursor.execute(_PROBE, [1])
            assert cursor.fetchone() == (42,)
    assert _prepared("prepared_cursor_probe") == 1
    with connection.cursor() as cursor:  # the ORM's cursor binds on the client: never prepared
        for _ in range(3):
            cursor.execute("SELECT %s::int AS orm_cursor_probe", [1])
    assert _prepared("orm_cursor_probe") == 0


@pytest.mark.django_db(transaction=True)
def test_behind_a_pooler_nothing_is_prepared(fresh_connection: None) -> None:
    options = connection.settings_dict["OPTIONS"]
    threshold = options.pop("prepare_threshold")
    try:
        connection.close()
        for _ in range(3):
            with prepared_cursor() as cursor:
                cursor.execute(_PROBE, [1])
                assert cursor.fetchone() == (42,)
        assert _prepared("prepared_cursor_probe") == 0
    finally:
        options["prepare_threshold"] = threshold


@pytest.mark.django_db
def test_it_is_django_s_cursor_errors_and_query_log_included() -> None:
    with CaptureQueriesContext(connection) as captured, prepared_cursor() as cursor:
        cursor.execute(_PROBE, [1])
    assert captured.captured_queries[-1]["sql"] == "SELECT 1::int + 41 AS prepared_cursor_probe"
    with pytest.raises(IntegrityError), prepared_cursor() as cursor:
        cursor.execute("INSERT INTO payments_idempotencykey (merchant_id) VALUES (%s)", [None])
