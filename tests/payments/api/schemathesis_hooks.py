"""schemathesis hooks for the stateful run (loaded through ``SCHEMATHESIS_HOOKS``).

A schema cannot say "a card number passes Luhn and is one the sandbox knows", so random payment bodies are all
rightly refused and the links would never carry a real id. These hooks put a sandbox card, amount and currency into
the generated create bodies; everything else (capture method, confirm, description) stays generated.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis

_CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2039, "cvc": "123"}}


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    if context.operation is None or not isinstance(body, dict):
        return body
    label = context.operation.label
    if label == "POST /v1/payments":
        body = {**body, "amount": 2000, "currency": "usd", "payment_method": _CARD, "metadata": {}}
        body.pop("customer_email", None)
    elif label == "POST /v1/payouts":
        body = {**body, "amount": 100, "currency": "usd", "metadata": {}}
    elif label == "POST /v1/webhook_endpoints":
        body = {**body, "url": "http://127.0.0.1:9/hooks", "enabled_events": ["*"], "metadata": {}}
    return body


@schemathesis.hook
def map_headers(context: Any, headers: Any) -> Any:
    # Hypothesis draws small keys ("0") again and again; a create under a used key is, by contract, the replay of the
    # first one, whose object a later step may have deleted: 404 there is right, but reads as "created resource not
    # found". Each request gets its own key here; the fuzz test covers reused and malformed keys.
    if isinstance(headers, dict) and "Idempotency-Key" in headers:
        return {**headers, "Idempotency-Key": str(uuid.uuid4())}
    return headers
