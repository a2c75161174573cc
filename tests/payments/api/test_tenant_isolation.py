"""Another merchant's objects, and the other mode's, do not exist for a key: 404, and lists never leak them."""

from __future__ import annotations

import pytest

from tests.payments.conftest import card_payment_body, make_api

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("post", "/confirm"), ("post", "/capture"), ("post", "/cancel")]
)
def test_another_merchant_gets_404_on_every_operation(method: str, suffix: str) -> None:
    alice, bob = make_api(name="Alice"), make_api(name="Bob")
    payment = alice.post("/v1/payments", card_payment_body()).json()

    response = getattr(bob, method)(f"/v1/payments/{payment['id']}{suffix}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
    assert alice.get(f"/v1/payments/{payment['id']}").json()["status"] == "requires_confirmation"


def test_lists_show_only_the_callers_payments() -> None:
    alice, bob = make_api(name="Alice"), make_api(name="Bob")
    mine = {alice.post("/v1/payments", card_payment_body()).json()["id"] for _ in range(3)}
    bob.post("/v1/payments", card_payment_body())

    assert {p["id"] for p in alice.get("/v1/payments").json()["data"]} == mine
    assert len(bob.get("/v1/payments").json()["data"]) == 1


def test_test_and_live_keys_of_one_merchant_never_see_each_others_objects() -> None:
    test = make_api(name="Alice")
    live = make_api(merchant=test.merchant, livemode=True)
    test_payment = test.post("/v1/payments", card_payment_body()).json()
    live_payment = live.post("/v1/payments", card_payment_body()).json()
    assert (test_payment["livemode"], live_payment["livemode"]) == (False, True)

    assert live.get(f"/v1/payments/{test_payment['id']}").status_code == 404
    assert test.get(f"/v1/payments/{live_payment['id']}").status_code == 404
    assert [p["id"] for p in live.get("/v1/payments").json()["data"]] == [live_payment["id"]]
    assert [p["id"] for p in test.get("/v1/payments").json()["data"]] == [test_payment["id"]]


def test_idempotency_keys_are_scoped_per_merchant() -> None:
    alice, bob = make_api(name="Alice"), make_api(name="Bob")
    first = alice.post("/v1/payments", card_payment_body(), key="order-1").json()
    second = bob.post("/v1/payments", card_payment_body(), key="order-1")
    assert second.status_code == 200
    assert second.json()["id"] != first["id"]
    assert "Idempotent-Replayed" not in second
