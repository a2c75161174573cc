"""The card vault's cryptography: AES-256-GCM, envelope-encrypted under a key-encryption key from the environment.

Every vault entry has its own random data key (DEK). The card (number and expiry) and, until the first
authorization, the CVC are sealed under that DEK; the DEK itself is stored only wrapped (AES-256-GCM again) under a
key-encryption key (KEK) named by its id. The KEKs live in ``LEDGERLINE_VAULT_KEYS`` (``id:base64,id:base64``), never
in the database, so a database dump alone decrypts nothing. New entries are wrapped under
``LEDGERLINE_VAULT_ACTIVE_KEY``; rotating a KEK is adding the new one, making it active, running
``manage.py vault_rewrap`` (which re-wraps only the small DEKs, never touching the card ciphertext) and then removing
the old one.

Each ciphertext is bound to its entry (the entry id, and for the DEK the KEK id, are the GCM associated data), so a
ciphertext copied onto another row, or a DEK relabelled to another key, fails authentication like a flipped bit.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

NONCE_BYTES = 12
KEY_BYTES = 32
# The embedded and test shapes' fixed key: public, so production refuses it (payments.E004).
DEV_KEY_ID = "dev"
DEV_KEY = base64.b64encode(b"ledgerline-dev-vault-key-32bytes").decode()


class VaultError(Exception):
    """A ciphertext that does not authenticate (tampered, moved, wrong key) or a key that is not configured."""


class VaultConfigurationError(VaultError):
    pass


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]
    active: str


@dataclass(frozen=True)
class CardSecret:
    """What the vault gives back, only to the executor's provider call: never stored, never logged."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str  # "" once destroyed

    def __repr__(self) -> str:
        return f"CardSecret(last4={self.number[-4:]!r}, exp={self.exp_month:02d}/{self.exp_year})"


@dataclass(frozen=True)
class Sealed:
    kek_id: str
    wrapped_key: bytes
    card: bytes
    cvc: bytes | None


def key_ring_parse(raw: str, active: str) -> KeyRing:
    """``id:base64key`` pairs, comma separated; raises ``VaultConfigurationError`` saying what is wrong."""
    keys: dict[str, bytes] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        key_id, sep, encoded = part.partition(":")
        if not sep or not key_id.strip():
            raise VaultConfigurationError("each vault key is written id:base64")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VaultConfigurationError(f"vault key {key_id.strip()!r} is not base64") from exc
        if len(key) != KEY_BYTES:
            raise VaultConfigurationError(f"vault key {key_id.strip()!r} must be {KEY_BYTES} bytes (AES-256)")
        keys[key_id.strip()] = key
    if not keys:
        raise VaultConfigurationError("no vault key-encryption key is configured")
    active = active or list(keys)[-1]
    if active not in keys:
        raise VaultConfigurationError(f"the active vault key {active!r} is not among the configured keys")
    return KeyRing(keys=keys, active=active)


@lru_cache(maxsize=8)
def _ring(raw: str, active: str) -> KeyRing:
    return key_ring_parse(raw, active)


def key_ring() -> KeyRing:
    return _ring(settings.LEDGERLINE_VAULT_KEYS, settings.LEDGERLINE_VAULT_ACTIVE_KEY)


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(bytes(blob[:NONCE_BYTES]), bytes(blob[NONCE_BYTES:]), aad)
    except (InvalidTag, ValueError) as exc:
        raise VaultError("vault ciphertext does not authenticate") from exc


def _kek(ring: KeyRing, kek_id: str) -> bytes:
    try:
        return ring.keys[kek_id]
    except KeyError:
        raise VaultConfigurationError(f"vault key {kek_id!r} is not configured") from None


def _wrap_aad(entry_id: str, kek_id: str) -> bytes:
    return f"dek|{entry_id}|{kek_id}".encode()


def seal(*, entry_id: str, number: str, exp_month: int, exp_year: int, cvc: str) -> Sealed:
    ring = key_ring()
    dek = AESGCM.generate_key(bit_length=256)
    card = json.dumps({"number": number, "exp_month": exp_month, "exp_year": exp_year}).encode()
    return Sealed(
        kek_id=ring.active,
        wrapped_key=_encrypt(_kek(ring, ring.active), dek, _wrap_aad(entry_id, ring.active)),
        card=_encrypt(dek, card, f"card|{entry_id}".encode()),
        cvc=_encrypt(dek, cvc.encode(), f"cvc|{entry_id}".encode()) if cvc else None,
    )


def unseal(*, entry_id: str, kek_id: str, wrapped_key: bytes, card: bytes, cvc: bytes | None) -> CardSecret:
    dek = _decrypt(_kek(key_ring(), kek_id), wrapped_key, _wrap_aad(entry_id, kek_id))
    data: dict[str, Any] = json.loads(_decrypt(dek, card, f"card|{entry_id}".encode()))
    code = _decrypt(dek, cvc, f"cvc|{entry_id}".encode()).decode() if cvc else ""
    return CardSecret(
        number=str(data["number"]), exp_month=int(data["exp_month"]), exp_year=int(data["exp_year"]), cvc=code
    )


def rewrap(*, entry_id: str, kek_id: str, wrapped_key: bytes) -> tuple[str, bytes]:
    """The entry's DEK wrapped under the active KEK instead (the card ciphertext stays as it is)."""
    ring = key_ring()
    dek = _decrypt(_kek(ring, kek_id), wrapped_key, _wrap_aad(entry_id, kek_id))
    return ring.active, _encrypt(_kek(ring, ring.active), dek, _wrap_aad(entry_id, ring.active))
