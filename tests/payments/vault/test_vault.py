"""The card vault: what goes in comes out only with the right key, from the right row, unaltered."""

from __future__ import annotations

import base64
import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from payments import vault
from payments.models import CardVaultEntry
from payments.services.merchants import merchant_create
from payments.services.vault import vault_card_reveal, vault_card_store, vault_cvc_destroy, vault_rewrap

pytestmark = pytest.mark.django_db

NUMBER = "4012888888881881"


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def merchant_id() -> str:
    merchant, _ = merchant_create(name="Vault", email="ops@vault.test", livemode=False)
    return merchant.id


def _stored(merchant_id: str, number: str = NUMBER, cvc: str = "123") -> CardVaultEntry:
    entry = vault_card_store(merchant_id=merchant_id, number=number, exp_month=7, exp_year=2031, cvc=cvc)
    entry.save(force_insert=True)
    return entry


def _raw_row(entry_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM payments_cardvaultentry AS t WHERE id = %s", [entry_id])
        return str(cursor.fetchone()[0])


def test_a_card_comes_back_as_it_went_in_and_is_stored_only_as_ciphertext(merchant_id):
    entry = _stored(merchant_id)
    secret = vault_card_reveal(entry_id=entry.id)
    assert (secret.number, secret.exp_month, secret.exp_year, secret.cvc) == (NUMBER, 7, 2031, "123")
    assert NUMBER not in repr(secret)
    row = _raw_row(entry.id)
    for needle in (NUMBER, NUMBER[:12], "2031", '"123"', NUMBER.encode().hex()):
        assert needle not in row
    # Each entry has its own data key and nonces: the same card twice gives unrelated ciphertexts.
    again = _stored(merchant_id)
    assert bytes(again.card_ciphertext) != bytes(entry.card_ciphertext)
    assert bytes(again.wrapped_key) != bytes(entry.wrapped_key)


def test_a_tampered_ciphertext_is_refused(merchant_id):
    entry = _stored(merchant_id)
    flipped = bytearray(bytes(entry.card_ciphertext))
    flipped[-1] ^= 0x01
    CardVaultEntry.objects.filter(pk=entry.id).update(card_ciphertext=bytes(flipped))
    with pytest.raises(vault.VaultError):
        vault_card_reveal(entry_id=entry.id)


def test_a_ciphertext_moved_to_another_row_is_refused(merchant_id):
    first, second = _stored(merchant_id), _stored(merchant_id, number="5555555555554444")
    CardVaultEntry.objects.filter(pk=second.id).update(
        wrapped_key=bytes(first.wrapped_key), card_ciphertext=bytes(first.card_ciphertext)
    )
    with pytest.raises(vault.VaultError):
        vault_card_reveal(entry_id=second.id)
    assert vault_card_reveal(entry_id=first.id).number == NUMBER


def test_rotation_rewraps_every_entry_under_the_new_key_and_the_old_key_can_go(merchant_id, settings):
    old, new = _key(), _key()
    settings.LEDGERLINE_VAULT_KEYS, settings.LEDGERLINE_VAULT_ACTIVE_KEY = f"k1:{old}", ""
    entries = [_stored(merchant_id) for _ in range(3)]
    settings.LEDGERLINE_VAULT_KEYS, settings.LEDGERLINE_VAULT_ACTIVE_KEY = f"k1:{old},k2:{new}", "k2"
    fresh = _stored(merchant_id)
    assert fresh.kek_id == "k2"  # new cards use the new key at once
    ciphertexts = {e.id: bytes(e.card_ciphertext) for e in entries}

    out = StringIO()
    call_command("vault_rewrap", batch_size=2, stdout=out)
    assert "re-wrapped 3 entries under 'k2'; 0 left" in out.getvalue()
    assert vault_rewrap() == 0  # nothing left to do the second time

    settings.LEDGERLINE_VAULT_KEYS, settings.LEDGERLINE_VAULT_ACTIVE_KEY = f"k2:{new}", ""
    for entry in entries:
        stored = CardVaultEntry.objects.get(pk=entry.id)
        assert stored.kek_id == "k2"
        assert bytes(stored.card_ciphertext) == ciphertexts[entry.id]  # only the data key was re-wrapped
        assert vault_card_reveal(entry_id=entry.id).number == NUMBER


def test_an_entry_under_a_key_no_longer_configured_cannot_be_read(merchant_id, settings):
    settings.LEDGERLINE_VAULT_KEYS = f"k1:{_key()}"
    entry = _stored(merchant_id)
    settings.LEDGERLINE_VAULT_KEYS = f"k2:{_key()}"
    with pytest.raises(vault.VaultConfigurationError):
        vault_card_reveal(entry_id=entry.id)
    # A key relabelled with the missing key's id does not open it either.
    settings.LEDGERLINE_VAULT_KEYS = f"k1:{_key()}"
    with pytest.raises(vault.VaultError):
        vault_card_reveal(entry_id=entry.id)


def test_a_destroyed_cvc_is_gone_and_the_card_still_reads(merchant_id):
    entry = _stored(merchant_id)
    assert vault_cvc_destroy(entry_id=entry.id) is True
    assert vault_cvc_destroy(entry_id=entry.id) is False
    stored = CardVaultEntry.objects.get(pk=entry.id)
    assert stored.cvc_ciphertext is None
    assert stored.cvc_destroyed_at is not None
    secret = vault_card_reveal(entry_id=entry.id)
    assert (secret.number, secret.cvc) == (NUMBER, "")


@pytest.mark.parametrize(
    ("raw", "active", "problem"),
    [
        ("", "", "no vault key"),
        ("k1:not base64!", "", "not base64"),
        ("k1:c2hvcnQ=", "", "32 bytes"),
        (f"k1:{base64.b64encode(b'x' * 32).decode()}", "k9", "active vault key"),
    ],
)
def test_a_bad_key_ring_is_refused_with_the_reason(raw, active, problem):
    with pytest.raises(vault.VaultConfigurationError, match=problem):
        vault.key_ring_parse(raw, active)
