from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from django.core.wsgi import get_wsgi_application

from tests.payments.conftest import Api, make_api


@pytest.fixture(autouse=True)
def _providers_on_the_sandbox(psp_settings: None) -> None:
    """The platform's connectors call the session's live sandbox."""


@pytest.fixture
def api(transactional_db: None) -> Api:
    # The executor commits for real, as in tests/payments/execution.
    return make_api()


@pytest.fixture
def http_api() -> Iterator[httpx.Client]:
    """The platform's WSGI application behind an HTTP client: the auditor asks ``GET /v1/balance`` through the
    whole stack (authentication, middleware, the view), as it would over the network."""
    with httpx.Client(transport=httpx.WSGITransport(app=get_wsgi_application()), base_url="http://testserver") as c:
        yield c
