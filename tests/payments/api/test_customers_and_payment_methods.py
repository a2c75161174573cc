"""Customers and saved payment methods over the API: never the number, another merchant's are a 404."""

from __future__ import annotations

import pytest

from payments.models import CardVaultEntry, Payment, PaymentMethod
from tests.payments.conftest import VISA, card_payment_body, make_api

pytestmark = pytest.mark.django_db

CARD = {"number": "4000 0566 5566 5556", "exp_month": 4, "exp_year": 2036, "cvc": "321"}


def _error(response) -> dict:
    return response.json()["error"]


def _customer(api, **body) -> dict:
    response = api.post("/v1/customers", {"email": "jo@example.test", "name": "Jo", **body})
    assert response.status_code == 200, response.content
    return response.json()


def _card_method(api, **body) -> dict:
    response = api.post("/v1/payment_methods", {"type": "card", "card": CARD, **body})
    assert response.status_code == 200, response.content
    return response.json()


def test_a_customer_is_created_read_updated_listed_and_deleted(api):
    customer = _customer(api, metadata={"crm": "7", "tier": "gold"})
    assert customer["id"].startswith("cus_")
    assert (customer["object"], customer["email"], customer["name"]) == ("customer", "jo@example.test", "Jo")
    assert api.get(f"/v1/customers/{customer['id']}").json() == customer

    updated = api.post(f"/v1/customers/{customer['id']}", {"name": "Jo Doe", "metadata": {"tier": ""}}).json()
    assert (updated["name"], updated["email"], updated["metadata"]) == ("Jo Doe", "jo@example.test", {"crm": "7"})
    assert [c["id"] for c in api.get("/v1/customers").json()["data"]] == [customer["id"]]

    method = _card_method(api, customer=customer["id"])
    deleted = api.client.delete(f"/v1/customers/{customer['id']}")
    assert deleted.json() == {"id": customer["id"], "object": "customer", "deleted": True}
    assert api.get(f"/v1/customers/{customer['id']}").status_code == 404
    assert api.get("/v1/customers").json()["data"] == []
    # Its cards are detached for good.
    assert api.get(f"/v1/payment_methods/{method['id']}").json()["customer"] is None
    reuse = api.post("/v1/payments", card_payment_body(payment_method=method["id"]))
    assert (reuse.status_code, _error(reuse)["code"]) == (400, "payment_method_unexpected_state")


def test_a_saved_card_shows_brand_last4_expiry_and_fingerprint_never_the_number(api):
    method = _card_method(api)
    assert method["id"].startswith("pm_")
    assert (method["object"], method["type"], method["customer"], method["upi"]) == (
        "payment_method",
        "card",
        None,
        None,
    )
    card = method["card"]
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == ("visa", "5556", 4, 2036)
    assert len(card["fingerprint"]) == 64
    text = api.get(f"/v1/payment_methods/{method['id']}").content.decode()
    assert "4000056655665556" not in text
    assert "cvc" not in text
    # The number is in the vault, sealed; the same card again has the same fingerprint.
    stored = PaymentMethod.objects.get(pk=method["id"])
    assert CardVaultEntry.objects.filter(pk=stored.vault_entry_id).exists()
    assert _card_method(api)["card"]["fingerprint"] == card["fingerprint"]


def test_attach_list_and_detach(api):
    customer = _customer(api)
    first, second = _card_method(api), _card_method(api)
    for method in (first, second):
        attached = api.post(f"/v1/payment_methods/{method['id']}/attach", {"customer": customer["id"]})
        assert attached.json()["customer"] == customer["id"]
    listed = api.get("/v1/payment_methods", {"customer": customer["id"]}).json()["data"]
    assert [m["id"] for m in listed] == [second["id"], first["id"]]

    other = _customer(api, email="al@example.test")
    taken = api.post(f"/v1/payment_methods/{first['id']}/attach", {"customer": other["id"]})
    assert (taken.status_code, _error(taken)["code"]) == (400, "payment_method_unexpected_state")

    assert api.post(f"/v1/payment_methods/{first['id']}/detach").json()["customer"] is None
    listed = api.get("/v1/payment_methods", {"customer": customer["id"]}).json()["data"]
    assert [m["id"] for m in listed] == [second["id"]]
    assert api.get("/v1/payment_methods").status_code == 400  # a list is always one customer's


def test_a_upi_id_can_be_saved(api):
    response = api.post("/v1/payment_methods", {"type": "upi", "upi": {"vpa": "jo@okbank"}})
    assert response.status_code == 200, response.content
    assert (response.json()["type"], response.json()["upi"], response.json()["card"]) == (
        "upi",
        {"vpa": "jo@okbank"},
        None,
    )
    bad = api.post("/v1/payment_methods", {"type": "upi", "upi": {"vpa": "not a vpa"}})
    assert (bad.status_code, _error(bad)["code"]) == (400, "invalid_vpa")


def test_an_invalid_card_is_refused_and_nothing_is_stored(api):
    response = api.post("/v1/payment_methods", {"type": "card", "card": {**CARD, "number": "4242424242424241"}})
    assert (response.status_code, _error(response)["code"]) == (400, "invalid_number")
    assert not PaymentMethod.objects.exists()
    assert not CardVaultEntry.objects.exists()


def test_payments_take_a_saved_method_with_its_customer(api):
    customer = _customer(api)
    method = _card_method(api, customer=customer["id"])
    without = api.post("/v1/payments", card_payment_body(payment_method=method["id"]))
    assert (without.status_code, _error(without)["code"]) == (400, "payment_method_customer_mismatch")
    paid = api.post("/v1/payments", card_payment_body(payment_method=method["id"], customer=customer["id"]))
    assert paid.status_code == 200, paid.content
    body = paid.json()
    assert (body["customer"], body["payment_method"]["id"], body["payment_method"]["card"]["last4"]) == (
        customer["id"],
        method["id"],
        "5556",
    )
    assert body["customer_email"] == "jo@example.test"


def test_off_session_needs_a_method_saved_to_the_customer_and_confirm(api):
    customer = _customer(api)
    inline = api.post("/v1/payments", card_payment_body(customer=customer["id"], off_session=True, confirm=True))
    assert (inline.status_code, _error(inline)["param"]) == (400, "payment_method")
    method = _card_method(api, customer=customer["id"])
    unconfirmed = api.post(
        "/v1/payments", card_payment_body(payment_method=method["id"], customer=customer["id"], off_session=True)
    )
    assert (unconfirmed.status_code, _error(unconfirmed)["param"]) == (400, "confirm")
    saving = api.post("/v1/payments", card_payment_body(setup_future_usage="off_session"))
    assert (saving.status_code, _error(saving)["param"]) == (400, "customer")
    assert not Payment.objects.exists()


def test_an_inline_card_with_setup_future_usage_is_saved_to_the_customer(api):
    customer = _customer(api)
    paid = api.post("/v1/payments", card_payment_body(customer=customer["id"], setup_future_usage="off_session"))
    assert paid.json()["setup_future_usage"] == "off_session"
    listed = api.get("/v1/payment_methods", {"customer": customer["id"]}).json()["data"]
    assert [m["id"] for m in listed] == [paid.json()["payment_method"]["id"]]
    # Without setup_future_usage the inline card is a payment method of its own, saved to nobody.
    once = api.post("/v1/payments", card_payment_body(customer=customer["id"])).json()
    assert api.get(f"/v1/payment_methods/{once['payment_method']['id']}").json()["customer"] is None


def test_stripe_test_payment_methods_work_in_test_mode_only(api):
    paid = api.post("/v1/payments", card_payment_body(payment_method="pm_card_visa"))
    assert paid.status_code == 200, paid.content
    assert paid.json()["payment_method"]["card"]["last4"] == VISA[-4:]
    amex = api.post("/v1/payments", card_payment_body(payment_method="pm_card_amex")).json()
    assert amex["payment_method"]["card"]["brand"] == "amex"
    live = make_api(merchant=api.merchant, livemode=True)
    refused = live.post("/v1/payments", card_payment_body(payment_method="pm_card_visa"))
    assert (refused.status_code, _error(refused)["code"]) == (404, "resource_missing")


def test_another_merchants_customer_and_payment_method_are_404_everywhere(api):
    bob = make_api(name="Bob")
    customer, method = _customer(api), _card_method(api)
    mine = _customer(bob)
    checks = [
        bob.get(f"/v1/customers/{customer['id']}"),
        bob.post(f"/v1/customers/{customer['id']}", {"name": "x"}),
        bob.client.delete(f"/v1/customers/{customer['id']}"),
        bob.get(f"/v1/payment_methods/{method['id']}"),
        bob.get("/v1/payment_methods", {"customer": customer["id"]}),
        bob.post(f"/v1/payment_methods/{method['id']}/attach", {"customer": mine["id"]}),
        bob.post(f"/v1/payment_methods/{method['id']}/detach"),
        bob.post("/v1/payments", card_payment_body(payment_method=method["id"])),
        bob.post("/v1/payments", card_payment_body(customer=customer["id"])),
        bob.post("/v1/payment_methods", {"type": "card", "card": CARD, "customer": customer["id"]}),
    ]
    assert [(r.status_code, _error(r)["code"]) for r in checks] == [(404, "resource_missing")] * len(checks)
    assert api.get(f"/v1/customers/{customer['id']}").json()["name"] == "Jo"
    assert api.get(f"/v1/payment_methods/{method['id']}").json()["customer"] is None
