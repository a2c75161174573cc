from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from payments.models import Merchant
from payments.services.merchants import api_key_create, merchant_create

VISA = "4242424242424242"


def card_method(number: str = VISA, **overrides: Any) -> dict[str, Any]:
    card = {"number": number, "exp_month": 12, "exp_year": 2039, "cvc": "123"}
    card.update(overrides)
    return {"type": "card", "card": card}


def card_payment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"amount": 2000, "currency": "usd", "payment_method": card_method()}
    body.update(overrides)
    return body


def upi_payment_body(**upi: Any) -> dict[str, Any]:
    return {"amount": 49900, "currency": "inr", "payment_method": {"type": "upi", "upi": upi}}


@dataclass
class Api:
    """A merchant's API client: ``post``/``get`` send its key (and an Idempotency-Key when given)."""

    merchant: Merchant
    secret: str
    client: APIClient

    def post(self, path: str, body: dict[str, Any] | None = None, *, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key is not None else {}
        return self.client.post(path, body or {}, format="json", headers=headers)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(path, params or {})


def make_api(*, name: str = "Acme", livemode: bool = False, merchant: Merchant | None = None) -> Api:
    if merchant is None:
        merchant, issued = merchant_create(name=name, email=f"ops@{name.lower()}.test", livemode=livemode)
    else:
        issued = api_key_create(merchant=merchant, livemode=livemode)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return Api(merchant=merchant, secret=issued.secret, client=client)


@pytest.fixture
def api(db: None) -> Api:
    return make_api()


@pytest.fixture(autouse=True)
def _providers_on_the_sandbox(psp_settings: None) -> None:
    """Card numbers are tokenized at the providers while a request is validated: the live sandbox answers."""
