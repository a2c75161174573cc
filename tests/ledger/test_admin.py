"""The back office can look at the journal but nobody, superusers included, can add, change or delete."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from ledger.models import Account, JournalEntry, JournalTransaction
from tests.ledger.conftest import fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    user = get_user_model().objects.create_superuser("root", "root@ledgerline.test", "pw")
    client.force_login(user)
    fund("m1", 1_000)
    return client


@pytest.mark.parametrize("model", [Account, JournalTransaction, JournalEntry])
def test_lists_and_details_are_readable(superuser_client, model):
    base = f"/admin/ledger/{model._meta.model_name}/"
    assert superuser_client.get(base).status_code == 200
    obj = model.objects.first()
    response = superuser_client.get(f"{base}{obj.pk}/change/")
    assert response.status_code == 200
    assert b'name="_save"' not in response.content


@pytest.mark.parametrize("model", [Account, JournalTransaction, JournalEntry])
def test_nothing_can_be_added_changed_or_deleted(superuser_client, model):
    base = f"/admin/ledger/{model._meta.model_name}/"
    obj = model.objects.first()
    count = model.objects.count()
    assert superuser_client.get(f"{base}add/").status_code == 403
    assert superuser_client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    assert superuser_client.post(f"{base}{obj.pk}/change/", {}).status_code == 403
    assert model.objects.count() == count


def test_the_account_list_shows_balances(superuser_client):
    response = superuser_client.get("/admin/ledger/account/")
    assert "$10.00" in response.content.decode()  # 1000 minor units of USD, in dollars
