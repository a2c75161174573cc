"""Card data and secrets never reach a log line: a structlog processor and a logging filter share these rules.

What is redacted, wherever it appears in a message or a field:

* card numbers: runs of 13 to 19 digits (spaces or dashes allowed between groups) that pass the Luhn check, kept as
  their last four digits so a support engineer can still tell cards apart (a run failing Luhn is an id or an
  amount and stays);
* API keys (``sk_test_…``, ``sk_live_…``), webhook signing secrets (``whsec_…``) and the credentials of an
  ``Authorization`` header (``Bearer …``, ``Basic …``);
* the value after a secret's name inside text (``'cvc': '123'``, ``cvc=123``), and the whole value of a field
  whose name says it is secret: ``cvc``, ``cvv``, ``number``, ``card_number``,
  ``password``, ``secret``, ``api_key``, ``webhook_secret``, ``authorization`` …, at any depth.

Redaction runs last, on the finished event (exceptions already formatted), so nothing added later escapes it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

REDACTED = "[redacted]"

SECRET_KEYS = frozenset(
    {
        "cvc",
        "cvv",
        "cvc2",
        "cvv2",
        "card_number",
        "number",
        "pan",
        "password",
        "secret",
        "api_key",
        "webhook_secret",
        "signing_secret",
        "authorization",
        "http_authorization",
        "cookie",
        "http_cookie",
    }
)

# Digit groups separated by single spaces or dashes (or a URL's encoded spaces), not inside a longer word (a UUID's
# or a ULID's digits).
_SEPARATOR = r"(?: |-|\+|%20)"
_DIGIT_RUN = re.compile(rf"(?<![A-Za-z0-9-])\d+(?:{_SEPARATOR}\d+)*(?![A-Za-z0-9-])")
# A secret-named key inside text (a dict's repr in Celery's own lines, a query string): ``'cvc': '123'``, ``cvc=123``.
_KEYED_SECRET = re.compile(
    # Quotes may come escaped (a repr inside a repr): ``\\'cvc\\': \\'123\\'``.
    r"""(?P<key>[\\"']*\b(?:cvc2?|cvv2?|card_number|password|webhook_secret|api_key)\b[\\"']*\s*[:=]\s*[\\"']*)"""
    r"""(?P<value>[^"'\\\s,&}]+)""",
    re.IGNORECASE,
)
_API_KEY = re.compile(r"\b(sk|rk)_(test|live)_[A-Za-z0-9_\-]{6,}")
_WEBHOOK_SECRET = re.compile(r"\bwhsec_[A-Za-z0-9_\-+/=]{6,}")
_AUTHORIZATION = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9_\-.~+/=]{6,}", re.IGNORECASE)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _pan_mask(match: re.Match[str]) -> str:
    """Masks every sequence of whole groups that forms a Luhn-valid 13 to 19 digit number: a card's number followed
    by its expiry (``4242 4242 4242 4242 12 39``) is one run, and the number must not escape for it."""
    run = match.group(0)
    if sum(char.isdigit() for char in run) < 13:
        return run
    parts = re.split(f"({_SEPARATOR})", run)  # groups at even indexes, their separators between them
    groups = parts[0::2]
    start = 0
    while start < len(groups):
        for end in range(len(groups), start, -1):
            digits = "".join(groups[start:end])
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                # The card's groups and the separators between them become one mask.
                parts[2 * start : 2 * end - 1] = [f"[card ****{digits[-4:]}]"] + [""] * (2 * (end - start) - 2)
                start = end
                break
        else:
            start += 1
    return "".join(parts)


def redact_text(text: str) -> str:
    if not text:
        return text
    text = _DIGIT_RUN.sub(_pan_mask, text)
    text = _KEYED_SECRET.sub(lambda m: f"{m.group('key')}{REDACTED}", text)
    text = _AUTHORIZATION.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _API_KEY.sub(lambda m: f"{m.group(1)}_{m.group(2)}_{REDACTED}", text)
    return _WEBHOOK_SECRET.sub(f"whsec_{REDACTED}", text)


def redact_value(value: Any, *, depth: int = 0) -> Any:
    if depth > 8:  # a pathological structure is logged as it is rather than looped over forever
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and key.lower() in SECRET_KEYS and value[key] not in (None, "")
            else redact_value(value[key], depth=depth + 1)
            for key in value
        }
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item, depth=depth + 1) for item in value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**12:
        # A card number logged as an integer.
        redacted = redact_text(str(value))
        return value if redacted == str(value) else redacted
    return value


def redact_event(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: every field of the event, the message included."""
    redacted: Mapping[str, Any] = redact_value(event_dict)
    return redacted


class RedactingFilter(logging.Filter):
    """For handlers that do not format through structlog (gunicorn's own logs, a third-party handler): the
    record's message is rendered and redacted once, so no argument can carry a secret past it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):  # structlog's event, handed to the formatter: redacted there too
            record.msg = redact_value(record.msg)
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True
