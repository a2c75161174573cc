"""Saved cards: tokenized by the worker at the acquirer an attempt uses, once; the request path calls no provider.

The sandbox's request log (one JSON line per request it served) is the witness of what reached a provider.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from payments.enums import PaymentStatus
from payments.models import CardVaultEntry, PaymentAttempt, PaymentMethod
from payments.services.payment_methods import customer_create, payment_method_test_get_or_create
from tests.payments.conftest import card_payment_body, make_api
from tests.payments.execution.conftest import drain, payment

_PROVIDER_CALL = re.compile(r"^/(card_[a-z]|upi)/v1/")


class ProviderLog:
    def __init__(self, server) -> None:
        self.path = server.log
        self.offset = self.path.stat().st_size

    def calls(self) -> list[str]:
        """``METHOD /path`` of every provider call of this test since this log was opened (control calls left out).

        The sandbox writes a request's line when it answers, so a request an earlier test left hanging (a fault that
        holds the answer for seconds) is written during this one. A call is this test's when its idempotency key is
        one of this test's attempts or cards (the database is emptied between tests) or it has none."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            lines = [json.loads(line) for line in handle.read().splitlines() if line.startswith(b"{")]
        attempts = set(PaymentAttempt.objects.values_list("idempotency_key", flat=True))
        cards = tuple(f"tok_{pk}_" for pk in PaymentMethod.objects.values_list("pk", flat=True))

        def ours(key: str | None) -> bool:
            return key is None or key in attempts or key.startswith(cards)

        return [
            f"{line['method']} {line['path']}"
            for line in lines
            if _PROVIDER_CALL.match(line.get("path", "")) and ours(line.get("idempotency_key"))
        ]


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


def test_a_test_payment_method_is_one_payment_method_per_merchant_tokenized_once(api, provider_log):
    first = _created(api, payment_method="pm_card_visa")
    assert drain() == ["payments.execute_attempt:succeeded"]
    second = _created(api, payment_method="pm_card_visa")
    assert drain() == ["payments.execute_attempt:succeeded"]

    assert first["payment_method"]["id"] == second["payment_method"]["id"]
    assert PaymentMethod.objects.filter(merchant=api.merchant).count() == 1
    assert CardVaultEntry.objects.filter(merchant=api.merchant).count() == 1
    # The acquirer's token made for the first payment is charged again by the second.
    assert provider_log.calls() == ["POST /card_a/v1/tokens", "POST /card_a/v1/charges", "POST /card_a/v1/charges"]
    # Another name, and another merchant, each get their own.
    amex = _created(api, payment_method="pm_card_amex")["payment_method"]["id"]
    bob = _created(make_api(name="Bob"), payment_method="pm_card_visa")["payment_method"]["id"]
    assert len({first["payment_method"]["id"], amex, bob}) == 3


def test_saving_a_test_payment_method_to_a_customer_saves_a_card_of_its_own(api):
    shared = _created(api, payment_method="pm_card_visa")["payment_method"]["id"]
    customer = customer_create(merchant=api.merchant, livemode=False, email="c@x.test")
    saved = _created(api, payment_method="pm_card_visa", customer=customer.id, setup_future_usage="off_session")[
        "payment_method"
    ]["id"]
    assert saved != shared
    assert PaymentMethod.objects.get(pk=saved).customer_id == customer.id
    assert PaymentMethod.objects.get(pk=shared).customer_id is None
    # Attaching the shared one hands it to the customer; the name then stands for a new one, never for that card.
    assert api.post(f"/v1/payment_methods/{shared}/attach", {"customer": customer.id}).status_code == 200
    after = _created(api, payment_method="pm_card_visa")["payment_method"]["id"]
    assert after not in {shared, saved}
    # Detached, it is never charged again: the next use makes another.
    assert api.post(f"/v1/payment_methods/{after}/detach").status_code == 200
    assert _created(api, payment_method="pm_card_visa")["payment_method"]["id"] not in {shared, saved, after}


def test_two_first_uses_racing_make_one_payment_method(api):
    """The second insert waits on the unique index for the first transaction, fails, and reads the winner's row."""
    merchant_id, today = api.merchant.id, timezone.now().date()
    first_inserted, second_waiting = threading.Event(), threading.Event()
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                method = payment_method_test_get_or_create(merchant_id=merchant_id, name="pm_card_visa", today=today)
                results["first"] = method.id
                first_inserted.set()
                second_waiting.wait(timeout=30)
        except BaseException as error:
            errors.append(error)
            first_inserted.set()
        finally:
            connection.close()

    def second() -> None:
        try:
            first_inserted.wait(timeout=30)
            with transaction.atomic():
                method = payment_method_test_get_or_create(merchant_id=merchant_id, name="pm_card_visa", today=today)
                results["second"] = method.id
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    # Hold the first transaction open until the second one's insert is blocked behind it on the unique index.
    first_inserted.wait(timeout=30)
    for _ in range(600):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                ['%INSERT INTO "payments_paymentmethod"%'],
            )
            if cursor.fetchone()[0]:
                break
        time.sleep(0.05)
    else:
        pytest.fail("the second insert never waited for the first")
    second_waiting.set()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert results["first"] == results["second"]
    assert PaymentMethod.objects.filter(merchant_id=merchant_id).count() == 1
    # The loser's vault entry went with its savepoint.
    assert CardVaultEntry.objects.filter(merchant_id=merchant_id).count() == 1
