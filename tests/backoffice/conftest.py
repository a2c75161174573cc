from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from tests.payments.execution.conftest import api

__all__ = ["api"]


@pytest.fixture(autouse=True)
def _providers_on_the_sandbox(psp_settings: None) -> None:
    """The payments the back office works on are made against the live sandbox."""


def login(name: str, group: str | None = None, *, superuser: bool = False) -> Client:
    users = get_user_model().objects
    user = (
        users.create_superuser(name, f"{name}@x.test", "pw")
        if superuser
        else users.create_user(name, f"{name}@x.test", "pw", is_staff=True)
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def groups(transactional_db: None) -> None:
    call_command("setup_groups", verbosity=0)


@pytest.fixture
def support(groups: None) -> Client:
    return login("sam", "Support")


@pytest.fixture
def support2(groups: None) -> Client:
    return login("sue", "Support")


@pytest.fixture
def finance(groups: None) -> Client:
    return login("fay", "Finance")


@pytest.fixture
def superuser(groups: None) -> Client:
    return login("root", superuser=True)
