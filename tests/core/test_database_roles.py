"""The application's database role is checked in production: no superuser, owner of nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from core.database_roles import check_application_role


@contextmanager
def connected_as(alias_settings: dict[str, str]) -> Iterator[None]:
    saved = connection.settings_dict["USER"], connection.settings_dict["PASSWORD"]
    connection.close()
    connection.settings_dict["USER"], connection.settings_dict["PASSWORD"] = (
        alias_settings["USER"],
        alias_settings["PASSWORD"],
    )
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["USER"], connection.settings_dict["PASSWORD"] = saved


@pytest.mark.django_db(transaction=True)
def test_the_check_passes_for_the_application_role_and_fails_for_the_owner():
    with override_settings(PRODUCTION=True):
        assert check_application_role(databases=["default"]) == []
        assert check_application_role(databases=None) == []  # only when asked for a database
        with connected_as(settings.DATABASES["owner"]):
            assert [m.id for m in check_application_role(databases=["default"])] == ["ledgerline.E011"]
