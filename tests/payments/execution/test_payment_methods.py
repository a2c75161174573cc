"""Saved cards: tokenized by the worker at the acquirer an attempt uses, once; the request path calls no provider.

The sandbox's request log (one JSON line per request it served) is the witness of what reached a provider.
"""

from __future__ import annotations

import json
import re

import pytest

from payments.enums import PaymentStatus
from payments.models import CardVaultEntry, PaymentMethod
from payments.services.payment_methods import customer_create
from tests.payments.conftest import card_payment_body
from tests.payments.execution.conftest import drain, payment

_PROVIDER_CALL = re.compile(r"^/(card_[a-z]|upi)/v1/")


class ProviderLog:
    def __init__(self, server) -> None:
        self.path = server.log
        self.offset = self.path.stat().st_size

    def calls(self) -> list[str]:
        """``METHOD /path`` of every provider call since this log was opened (control calls left out)."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            lines = [json.loads(line) for line in handle.read().splitlines() if line.startswith(b"{")]
        return [f"{line['method']} {line['path']}" for line in lines if _PROVIDER_CALL.match(line.get("path", ""))]


@pytest.fixture
def provider_log(sandbox_server, sandbox) -> ProviderLog:
    return ProviderLog(sandbox_server)


def _created(api, key: str | None = None, **overrides) -> dict:
    response = api.post("/v1/payments", card_payment_body(confirm=True, **overrides), key=key)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_request_path_calls_no_provider_not_even_on_a_replay_or_a_refusal(api, provider_log):
    first = _created(api, key="order-1")
    replay = api.post("/v1/payments", card_payment_body(confirm=True), key="order-1")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first["id"]
    refused = api.post("/v1/payments", card_payment_body(confirm=True, currency="zzz"), key="order-2")
    assert refused.status_code == 400
    declined_card = api.post("/v1/payments", card_payment_body(payment_method={"type": "card", "card": {}}))
    assert declined_card.status_code == 400
    assert provider_log.calls() == []
    # The worker then tokenizes at the acquirer the attempt uses, once, and charges the token.
    assert drain() == ["payments.execute_attempt:succeeded"]
    assert provider_log.calls() == ["POST /card_a/v1/tokens", "POST /card_a/v1/charges"]


def test_the_token_is_kept_per_acquirer_and_the_cvc_destroyed_after_the_first_authorization(api, provider_log):
    created = _created(api)
    method = PaymentMethod.objects.get(pk=created["payment_method"]["id"])
    assert method.provider_tokens == {}
    assert CardVaultEntry.objects.get(pk=method.vault_entry_id).cvc_ciphertext is not None
    drain()
    method.refresh_from_db()
    assert set(method.provider_tokens) == {"card_a"}
    assert method.provider_tokens["card_a"].startswith("tok_")
    entry = CardVaultEntry.objects.get(pk=method.vault_entry_id)
    assert (entry.cvc_ciphertext, entry.cvc_destroyed_at is not None) == (None, True)


def test_a_declined_authorization_destroys_the_cvc_too(api, provider_log):
    created = _created(api, payment_method={"type": "card", "card": _card("4000000000000002")})
    assert drain() == ["payments.execute_attempt:failed"]
    method = PaymentMethod.objects.get(pk=created["payment_method"]["id"])
    assert CardVaultEntry.objects.get(pk=method.vault_entry_id).cvc_ciphertext is None


def test_an_acquirer_that_cannot_tokenize_fails_over_and_the_next_one_keeps_its_token(api, sandbox, provider_log):
    sandbox.control("/faults", {"provider": "card_a", "error_rate": 1.0, "operations": ["tokenize"]})
    created = _created(api)
    outcomes = drain()
    assert outcomes[-1] == "payments.execute_attempt:succeeded", outcomes
    paid = payment(created["id"])
    assert (paid.status, paid.psp) == (PaymentStatus.SUCCEEDED, "card_b")
    method = PaymentMethod.objects.get(pk=created["payment_method"]["id"])
    assert set(method.provider_tokens) == {"card_b"}
    # No charge was ever sent to card_a: its tokenizer refused, so the card never got that far.
    assert "POST /card_a/v1/charges" not in provider_log.calls()


def test_a_saved_card_pays_twice_off_session_with_the_one_token(api, provider_log):
    customer = customer_create(merchant=api.merchant, livemode=False, email="jo@example.test")
    first = _created(api, customer=customer.id, setup_future_usage="off_session")
    assert first["customer"] == customer.id
    assert drain() == ["payments.execute_attempt:succeeded"]
    method_id = first["payment_method"]["id"]
    assert PaymentMethod.objects.get(pk=method_id).customer_id == customer.id

    ids = []
    for amount in (1500, 2500):
        later = _created(
            api,
            amount=amount,
            payment_method=method_id,
            customer=customer.id,
            off_session=True,
        )
        assert later["off_session"] is True
        assert later["payment_method"]["id"] == method_id
        assert later["payment_method"]["card"]["last4"] == "4242"
        assert drain() == ["payments.execute_attempt:succeeded"]
        ids.append(later["id"])
    assert [payment(i).amount_captured for i in ids] == [1500, 2500]
    # Tokenized once (first payment, with its CVC), then the token charged three times.
    assert provider_log.calls() == ["POST /card_a/v1/tokens"] + ["POST /card_a/v1/charges"] * 3


def _card(number: str) -> dict:
    return {"number": number, "exp_month": 12, "exp_year": 2039, "cvc": "123"}


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("pm_card_visa", PaymentStatus.SUCCEEDED, ""),
        ("pm_card_mastercard", PaymentStatus.SUCCEEDED, ""),
        ("pm_card_chargeDeclined", PaymentStatus.FAILED, "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", PaymentStatus.FAILED, "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", PaymentStatus.FAILED, "expired_card"),
    ],
)
def test_stripes_test_payment_methods_behave_as_their_test_cards(api, sandbox, name, status, code):
    created = _created(api, payment_method=name)
    drain()
    done = payment(created["id"])
    assert (done.status, done.failure_code) == (status, code)
