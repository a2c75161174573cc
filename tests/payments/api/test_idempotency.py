"""Idempotency-Key as the contract says: one side effect whatever the retries, their timing or concurrency."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from payments.api import payments as payment_views
from payments.models import IdempotencyKey, OutboxMessage, Payment
from tests.payments.conftest import Api, card_payment_body, make_api

pytestmark = pytest.mark.django_db


def test_a_retry_replays_the_first_response_with_the_replayed_header(api: Api) -> None:
    first = api.post("/v1/payments", card_payment_body(confirm=True), key="order-1")
    again = api.post("/v1/payments", card_payment_body(confirm=True), key="order-1")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Payment.objects.count() == 1
    assert OutboxMessage.objects.count() == 2  # one event and one command, not four


def test_key_order_of_the_json_body_does_not_matter(api: Api) -> None:
    body = card_payment_body()
    api.post("/v1/payments", body, key="k")
    again = api.post("/v1/payments", dict(reversed(list(body.items()))), key="k")
    assert again["Idempotent-Replayed"] == "true"


def test_same_key_with_different_parameters_is_idempotency_key_reused(api: Api) -> None:
    api.post("/v1/payments", card_payment_body(amount=2000), key="order-1")
    response = api.post("/v1/payments", card_payment_body(amount=2001), key="order-1")

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "idempotency_error"
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Payment.objects.count() == 1


def test_same_key_on_another_endpoint_is_idempotency_key_reused(api: Api) -> None:
    payment = api.post("/v1/payments", card_payment_body(), key="k").json()
    response = api.post(f"/v1/payments/{payment['id']}/confirm", key="k")
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_validation_failures_are_not_stored_so_a_corrected_retry_works(api: Api) -> None:
    bad = api.post("/v1/payments", card_payment_body(amount=10), key="order-1")
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.exists()

    good = api.post("/v1/payments", card_payment_body(amount=2000), key="order-1")
    assert good.status_code == 200
    assert "Idempotent-Replayed" not in good


def test_an_error_after_work_started_is_stored_and_replayed(api: Api) -> None:
    payment = api.post("/v1/payments", card_payment_body()).json()
    api.post(f"/v1/payments/{payment['id']}/cancel")

    first = api.post(f"/v1/payments/{payment['id']}/confirm", key="confirm-1")
    again = api.post(f"/v1/payments/{payment['id']}/confirm", key="confirm-1")
    assert first.status_code == again.status_code == 400
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"


def test_a_500_is_stored_with_nothing_of_the_failed_work(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    real_create = payment_views.payment_create

    def create_then_crash(**kwargs: Any) -> Payment:
        real_create(**kwargs)
        raise RuntimeError("bug after the payment row was written")

    monkeypatch.setattr(payment_views, "payment_create", create_then_crash)
    first = api.post("/v1/payments", card_payment_body(confirm=True), key="order-1")
    monkeypatch.setattr(payment_views, "payment_create", real_create)
    again = api.post("/v1/payments", card_payment_body(confirm=True), key="order-1")

    assert first.status_code == again.status_code == 500
    assert first.json() == again.json()
    assert first.json()["error"]["type"] == "api_error"
    assert again["Idempotent-Replayed"] == "true"
    assert not Payment.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_a_replay_is_byte_identical_to_the_first_response(api: Api) -> None:
    """jsonb reorders keys by length: replays came back with another key order (issue 12)."""
    first = api.post("/v1/payments", card_payment_body(metadata={"zz": "1", "a": "2"}), key="bytes-1")
    again = api.post("/v1/payments", card_payment_body(metadata={"zz": "1", "a": "2"}), key="bytes-1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content


def test_a_stored_500_answers_the_same_should_retry_every_time(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(**kwargs: Any) -> Payment:
        raise RuntimeError("bug")

    monkeypatch.setattr(payment_views, "payment_create", crash)
    answers = [api.post("/v1/payments", card_payment_body(), key="crash-1") for _ in range(3)]
    assert [a.status_code for a in answers] == [500, 500, 500]
    # Every retry under this key gets this same 500: retrying it cannot help, and all three say so.
    assert {a["Should-Retry"] for a in answers} == {"false"}
    assert {a.content for a in answers} == {answers[0].content}


@pytest.mark.parametrize("key", ["", "x" * 256])
def test_a_malformed_key_is_refused_before_anything_runs(api: Api, key: str) -> None:
    response = api.post("/v1/payments", card_payment_body(), key=key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert not Payment.objects.exists()


def _concurrent_posts(secret: str, body: dict[str, Any], *, clients: int = 10) -> list[Any]:
    from rest_framework.test import APIClient

    start = threading.Barrier(clients)
    responses: list[Any] = [None] * clients

    def post(index: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        try:
            start.wait()
            responses[index] = client.post("/v1/payments", body, format="json", headers={"Idempotency-Key": "same"})
        finally:
            connection.close()  # each thread had its own PostgreSQL connection

    threads = [threading.Thread(target=post, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_identical_posts_create_exactly_one_payment() -> None:
    api = make_api()
    responses = _concurrent_posts(api.secret, card_payment_body(confirm=True))

    assert Payment.objects.count() == 1
    assert OutboxMessage.objects.filter(topic="payments.execute_attempt").count() == 1
    payment_id = Payment.objects.get().id
    for response in responses:
        assert response.status_code in {200, 409}, response.json()
        if response.status_code == 200:
            assert response.json()["id"] == payment_id
        else:
            assert response.json()["error"]["code"] == "idempotency_key_in_use"
            assert response["Should-Retry"] == "true"
    assert sum(r.status_code == 200 and "Idempotent-Replayed" not in r for r in responses) == 1


@pytest.mark.django_db(transaction=True)
def test_while_the_first_request_runs_the_others_get_409_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api()
    real_create = payment_views.payment_create

    def slow_create(**kwargs: Any) -> Payment:
        time.sleep(0.5)
        return real_create(**kwargs)

    monkeypatch.setattr(payment_views, "payment_create", slow_create)
    started = time.monotonic()
    responses = _concurrent_posts(api.secret, card_payment_body(confirm=True), clients=5)

    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409, 409]
    assert time.monotonic() - started < 5  # nobody waited for the first request's lock
    assert Payment.objects.count() == 1
    # 409s are not stored: once the first has finished, a retry replays it.
    retry = api.post("/v1/payments", card_payment_body(confirm=True), key="same")
    assert retry["Idempotent-Replayed"] == "true"
