"""Found by the chaos run: while PostgreSQL restarted, the API answered 500 (a bug, says the contract); a database
that is away is a 503 in the envelope, with Retry-After, so a careful client retries."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError

from core.api.errors import exception_handler


@pytest.mark.parametrize("error", [OperationalError("server closed the connection"), InterfaceError("closed")])
def test_a_database_that_went_away_is_a_503_to_retry(error: Exception) -> None:
    response = exception_handler(error, {})
    assert response is not None
    assert response.status_code == 503
    assert response.data["error"]["code"] == "service_unavailable"
    assert response["Should-Retry"] == "true"
    assert response["Retry-After"] == "1"
