"""UPI over real HTTP: intent URI, payer approval/decline, expiry, late success, collect, VPAs, refunds."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import Client


def status(client: Client, txn_id: str) -> str:
    return str(client.get("upi", f"/transactions/{txn_id}").json()["status"])


def test_intent_uri_and_approve(client: Client) -> None:
    txn = client.upi(amount=12345, flow="intent", description="Order 42")
    assert txn["status"] == "pending"
    assert txn["upi_uri"].startswith("upi://pay?pa=ledgerline@sandbox&")
    query = parse_qs(urlsplit(txn["upi_uri"]).query)
    assert query["am"] == ["123.45"]
    assert query["cu"] == ["INR"]
    assert query["tr"] == [txn["reference"]]
    assert query["pn"] == ["Ledgerline Sandbox"]
    approved = client.http.post(f"/upi/v1/transactions/{txn['id']}/approve", json={"payer_vpa": "alice@okbank"})
    assert approved.status_code == 200
    body = approved.json()
    assert body["status"] == "succeeded"
    assert re.fullmatch(r"\d{12}", body["rrn"])
    assert body["payer_vpa"] == "alice@okbank"
    assert body["fee"] == 37  # 0.3 % of 12345 = 37.035
    assert body["net"] == 12345 - 37
    records = client.records("upi", txn["reference"])
    assert [(r["kind"], r["amount"]) for r in records] == [("charge", 12345)]


def test_small_amount_formatting(client: Client) -> None:
    txn = client.upi(amount=105)
    assert "am=1.05&" in txn["upi_uri"]


def test_decline(client: Client) -> None:
    txn = client.upi()
    declined = client.http.post(f"/upi/v1/transactions/{txn['id']}/decline", json={}).json()
    assert declined["status"] == "failed"
    assert declined["failure_code"] == "payer_declined"
    again = client.http.post(f"/upi/v1/transactions/{txn['id']}/approve", json={})
    assert again.status_code == 409
    assert client.records("upi", txn["reference"]) == []


def test_expiry_follows_the_clock(client: Client) -> None:
    txn = client.upi(expires_in=300)
    client.advance(299)
    assert status(client, txn["id"]) == "pending"
    client.advance(2)
    assert status(client, txn["id"]) == "expired"
    late = client.http.post(f"/upi/v1/transactions/{txn['id']}/approve", json={})
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "transaction_expired"


@pytest.mark.parametrize("expires_in", [299, 901, "600"])
def test_expires_in_bounds(client: Client, expires_in: object) -> None:
    response = client.post(
        "upi", "/transactions", {"reference": client.ref(), "amount": 1000, "expires_in": expires_in}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_expires_in"


def test_auto_approve_intent(client: Client) -> None:
    txn = client.upi(auto_approve=True)
    assert status(client, txn["id"]) == "pending"
    client.advance(3)
    assert status(client, txn["id"]) == "succeeded"


@pytest.mark.parametrize(
    ("vpa", "advance", "expected", "failure_code"),
    [
        ("success@upi", 3, "succeeded", None),
        ("failure@upi", 3, "failed", "payer_declined"),
        ("insufficient@upi", 3, "failed", "insufficient_funds"),
        ("slow@upi", 3, "pending", None),
        ("expire@upi", 601, "expired", "expired"),
    ],
)
def test_collect_test_vpas(client: Client, vpa: str, advance: int, expected: str, failure_code: str | None) -> None:
    txn = client.upi(flow="collect", vpa=vpa)
    assert txn["upi_uri"] is None
    client.advance(advance)
    found = client.get("upi", f"/transactions/by_reference/{txn['reference']}").json()
    assert found["status"] == expected
    assert found["failure_code"] == failure_code


def test_slow_vpa_eventually_approves(client: Client) -> None:
    txn = client.upi(flow="collect", vpa="slow@upi")
    client.advance(121)
    assert status(client, txn["id"]) == "succeeded"


def test_deemed_success_after_expiry(client: Client) -> None:
    txn = client.upi(flow="collect", vpa="deemed@upi", expires_in=300)
    client.advance(301)
    assert status(client, txn["id"]) == "expired"
    assert client.records("upi", txn["reference"]) == []
    client.advance(61)
    late = client.get("upi", f"/transactions/{txn['id']}").json()
    assert late["status"] == "succeeded"
    assert late["late_success"] is True
    assert re.fullmatch(r"\d{12}", late["rrn"])
    assert len(client.records("upi", txn["reference"])) == 1


def test_late_success_fault_after_decline(client: Client) -> None:
    client.control("/faults/next", {"provider": "upi", "operation": "create", "mode": "deemed_success", "count": 1})
    txn = client.upi()
    client.http.post(f"/upi/v1/transactions/{txn['id']}/decline", json={})
    assert status(client, txn["id"]) == "failed"
    client.advance(61)
    assert status(client, txn["id"]) == "succeeded"
    other = client.upi()  # the rule was used up
    client.http.post(f"/upi/v1/transactions/{other['id']}/decline", json={})
    client.advance(61)
    assert status(client, other["id"]) == "failed"


def test_vpa_verification(client: Client) -> None:
    ok = client.post("upi", "/vpa/verify", {"vpa": "alice.s@okbank"}).json()
    assert ok["valid"] is True
    assert ok["exists"] is True
    assert client.post("upi", "/vpa/verify", {"vpa": "unknown@upi"}).json()["exists"] is False
    bad = client.post("upi", "/vpa/verify", {"vpa": "not-a-vpa"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_vpa"
    collect = client.post("upi", "/transactions", {"reference": client.ref(), "amount": 100, "flow": "collect"})
    assert collect.json()["error"]["code"] == "invalid_vpa"
    nobody = client.post(
        "upi", "/transactions", {"reference": client.ref(), "amount": 100, "flow": "collect", "vpa": "invalid@upi"}
    )
    assert nobody.json()["error"]["code"] == "vpa_not_found"


def test_lookup_unknown_reference(client: Client) -> None:
    response = client.get("upi", "/transactions/by_reference/never_sent")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "reference_not_found"


def test_payer_page_and_form_post(client: Client) -> None:
    txn = client.upi()
    page = client.http.get(urlsplit(txn["approve_url"]).path)
    assert page.status_code == 200
    assert "Approve in your UPI app" in page.text
    assert "123.45" in page.text
    posted = client.http.post(f"/upi/v1/transactions/{txn['id']}/approve", data={"go": "1"})
    assert posted.status_code == 303
    assert status(client, txn["id"]) == "succeeded"
    assert "Approve in your UPI app" not in client.http.get(urlsplit(txn["approve_url"]).path).text


def test_refund_back_to_payer_vpa(client: Client) -> None:
    txn = client.upi(amount=10000)
    client.http.post(f"/upi/v1/transactions/{txn['id']}/approve", json={"payer_vpa": "bob@okbank"})
    refund = client.post("upi", f"/transactions/{txn['id']}/refunds", {"amount": 4000, "reference": "r1"}).json()
    assert refund["status"] == "pending"
    assert refund["credited_vpa"] == "bob@okbank"
    over = client.post("upi", f"/transactions/{txn['id']}/refunds", {"amount": 6001})
    assert over.json()["error"]["code"] == "amount_exceeds_refundable"
    client.advance(6)
    done = client.get("upi", "/refunds/by_reference/r1").json()
    assert done["status"] == "succeeded"
    assert re.fullmatch(r"\d{12}", done["rrn"])
    kinds = [(r["kind"], r["amount"]) for r in client.records("upi", txn["reference"])]
    assert kinds == [("charge", 10000), ("refund", 4000)]


def test_upi_amount_rules(client: Client) -> None:
    too_big = client.post("upi", "/transactions", {"reference": client.ref(), "amount": 10_000_001})
    assert too_big.json()["error"]["code"] == "amount_too_large"
    usd = client.post("upi", "/transactions", {"reference": client.ref(), "amount": 1000, "currency": "usd"})
    assert usd.json()["error"]["code"] == "invalid_currency"
