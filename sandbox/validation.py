"""Request field checks shared by the providers; every failure is a 400 with the offending ``param``."""

from __future__ import annotations

import re
from typing import Any

from .errors import invalid

_CURRENCY = re.compile(r"^[a-z]{3}$")
MAX_AMOUNT = 10**12


def amount(body: dict[str, Any], name: str = "amount", *, minimum: int = 1, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid("parameter_missing", f"{name} is required", name)
        return None
    # bool is an int subclass and floats/strings would smuggle in rounding; only true integers are money.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("invalid_amount", f"{name} must be an integer number of minor units", name)
    if value < minimum:
        raise invalid("amount_too_small", f"{name} must be at least {minimum}", name)
    if value > MAX_AMOUNT:
        raise invalid("amount_too_large", f"{name} must be at most {MAX_AMOUNT}", name)
    return value


def currency(body: dict[str, Any], name: str = "currency") -> str:
    value = body.get(name)
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise invalid("invalid_currency", f"{name} must be a lower-case ISO 4217 code such as 'usd'", name)
    return value


def text(body: dict[str, Any], name: str, *, required: bool = True, max_length: int = 255) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise invalid("parameter_missing", f"{name} is required", name)
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise invalid("invalid_parameter", f"{name} must be a string of at most {max_length} characters", name)
    return value


def flag(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if isinstance(value, str):  # HTML forms post strings
        return value.lower() in ("1", "true", "yes", "on")
    if not isinstance(value, bool):
        raise invalid("invalid_parameter", f"{name} must be a boolean", name)
    return value


def metadata(body: dict[str, Any]) -> dict[str, str]:
    value = body.get("metadata") or {}
    if not isinstance(value, dict) or len(value) > 50 or not all(isinstance(v, str) for v in value.values()):
        raise invalid("invalid_metadata", "metadata must be a string map of at most 50 keys", "metadata")
    return {str(k): v for k, v in value.items()}


def required_amount(body: dict[str, Any], name: str = "amount", *, minimum: int = 1) -> int:
    value = amount(body, name, minimum=minimum)
    if value is None:  # cannot happen with required=True; narrows the type without an assert
        raise invalid("parameter_missing", f"{name} is required", name)
    return value


def required_text(body: dict[str, Any], name: str, *, max_length: int = 255) -> str:
    value = text(body, name, max_length=max_length)
    if value is None:
        raise invalid("parameter_missing", f"{name} is required", name)
    return value
