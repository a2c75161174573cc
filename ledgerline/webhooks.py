"""Verifying Ledgerline webhooks: a single, dependency-free module merchants may copy into their own code.

Every delivery carries ``Ledgerline-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`` where each ``v1`` is
``HMAC-SHA256(secret, "<t>.<raw body>")`` for one of the endpoint's active secrets (two while a secret is being
rolled). Verify against the raw request body exactly as received, before any JSON parsing::

    from ledgerline.webhooks import SignatureVerificationError, verify

    try:
        event = verify(request.body, request.headers["Ledgerline-Signature"], "whsec_…")
    except SignatureVerificationError:
        return HttpResponse(status=400)
    # Deliveries are at-least-once and unordered: dedupe by event["id"].

The platform signs with :func:`signature_header` from this very module, so the two can never disagree.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from typing import Any

SIGNATURE_HEADER = "Ledgerline-Signature"
EVENT_ID_HEADER = "Ledgerline-Event-Id"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300

__all__ = [
    "DEFAULT_TOLERANCE",
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "SignatureVerificationError",
    "compute_signature",
    "signature_header",
    "verify",
]


class SignatureVerificationError(Exception):
    """The payload is not a genuine, recent Ledgerline webhook for this secret."""


def _as_bytes(payload: bytes | str) -> bytes:
    return payload.encode("utf-8") if isinstance(payload, str) else payload


def compute_signature(payload: bytes | str, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<payload>"`` under ``secret``."""
    message = f"{timestamp}.".encode() + _as_bytes(payload)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(payload: bytes | str, secrets: Iterable[str], timestamp: int) -> str:
    """The ``Ledgerline-Signature`` value: one ``v1=`` per active secret."""
    parts = [f"t={timestamp}"]
    parts += [f"{SCHEME}={compute_signature(payload, secret, timestamp)}" for secret in secrets]
    return ",".join(parts)


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureVerificationError("the signature header's timestamp is not an integer") from None
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise SignatureVerificationError("the signature header carries no timestamp")
    if not signatures:
        raise SignatureVerificationError(f"the signature header carries no {SCHEME} signature")
    return timestamp, signatures


def verify(
    payload: bytes | str,
    header: str,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """Checks ``header`` against the raw ``payload`` and returns the decoded event.

    Raises :class:`SignatureVerificationError` when no ``v1`` signature matches ``secret`` or when the timestamp is
    more than ``tolerance`` seconds away from ``now`` (replayed or badly delayed deliveries).
    """
    if not header:
        raise SignatureVerificationError("the signature header is missing")
    timestamp, signatures = _parse_header(header)
    expected = compute_signature(payload, secret, timestamp)
    # compare_digest against every candidate, so timing does not reveal which one (if any) matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureVerificationError("no signature matches the expected signature for this payload and secret")
    current = time.time() if now is None else now
    if tolerance > 0 and abs(current - timestamp) > tolerance:
        raise SignatureVerificationError("the signature's timestamp is outside the tolerance window")
    try:
        event = json.loads(_as_bytes(payload))
    except ValueError:
        raise SignatureVerificationError("the payload is not JSON") from None
    if not isinstance(event, dict):
        raise SignatureVerificationError("the payload is not a JSON object")
    return event
