"""Settlement CSVs over real HTTP for one day's traffic, the T+1 cut-off, injected settlement faults, and the
standalone generator."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .conftest import KEYS, ROOT, Client

COLUMNS = [
    "batch_id",
    "settlement_date",
    "type",
    "provider_reference",
    "our_reference",
    "rrn",
    "currency",
    "gross",
    "fee",
    "net",
    "transaction_date",
    "original_provider_reference",
]


def start_day(client: Client) -> date:
    """Move the (reset) clock to 10:00 UTC on a day safely in the future, so dates are known to the test."""
    day = datetime.now(UTC).date() + timedelta(days=3)
    client.control("/clock", {"set": f"{day}T10:00:00Z"})
    return day


def fetch(client: Client, provider: str, day: date) -> list[dict[str, Any]]:
    response = client.http.get(
        f"/{provider}/settlements/{day}.csv", headers={"Authorization": f"Bearer {KEYS[provider]}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(response.text))
    assert reader.fieldnames == COLUMNS
    rows = list(reader)
    for row in rows:
        assert int(row["net"]) == int(row["gross"]) - int(row["fee"])
    return rows


def day_traffic(client: Client) -> dict[str, Any]:
    first = client.charge(amount=1000, reference="ord_1").json()
    second = client.charge(amount=5000, capture=False, reference="ord_2").json()
    client.post("card_a", f"/charges/{second['id']}/capture", {"amount": 3000})
    refund = client.post("card_a", f"/charges/{first['id']}/refunds", {"amount": 400, "reference": "rf_1"}).json()
    dispute = client.control("/disputes", {"provider": "card_a", "charge": second["id"]})
    client.charge(amount=700, capture=False, reference="ord_3")  # authorized only: never settles
    return {"first": first, "second": second, "refund": refund, "dispute": dispute}


def test_day_file_content(client: Client) -> None:
    day = start_day(client)
    traffic = day_traffic(client)
    txn = client.upi(amount=10000, reference="upi_ord_1")
    client.http.post(f"/upi/v1/transactions/{txn['id']}/approve", json={})
    settle = day + timedelta(days=1)
    not_yet = client.http.get(
        f"/card_a/settlements/{settle}.csv", headers={"Authorization": "Bearer sandbox_card_a_key"}
    )
    assert not_yet.status_code == 404
    assert not_yet.json()["error"]["code"] == "settlement_not_ready"
    assert fetch(client, "card_a", day) == []  # nothing settles on the day of the traffic itself

    client.advance(86400)
    rows = fetch(client, "card_a", settle)
    simplified = [
        (r["type"], r["provider_reference"], r["our_reference"], int(r["gross"]), int(r["fee"]), int(r["net"]))
        for r in rows
    ]
    first, second, dispute = traffic["first"], traffic["second"], traffic["dispute"]
    assert simplified == [
        ("charge", first["id"], "ord_1", 1000, 59, 941),
        ("charge", second["id"], "ord_2", 3000, 117, 2883),
        ("refund", traffic["refund"]["id"], "rf_1", -400, 0, -400),
        ("chargeback", dispute["id"], "ord_2", -3000, 0, -3000),
        ("fee_adjustment", dispute["id"], "ord_2", 0, 1500, -1500),
    ]
    assert {r["batch_id"] for r in rows} == {f"stl_card_a_{settle:%Y%m%d}"}
    assert {r["settlement_date"] for r in rows} == {settle.isoformat()}
    assert {r["currency"] for r in rows} == {"usd"}
    assert all(r["transaction_date"].startswith(day.isoformat()) for r in rows)
    assert rows[2]["original_provider_reference"] == first["id"]
    assert rows[0]["rrn"] == ""

    (upi_row,) = fetch(client, "upi", settle)
    assert upi_row["type"] == "charge"
    assert upi_row["our_reference"] == "upi_ord_1"
    assert re.fullmatch(r"\d{12}", upi_row["rrn"])
    assert (upi_row["gross"], upi_row["fee"], upi_row["net"]) == ("10000", "30", "9970")

    listing = client.http.get("/card_a/settlements", headers={"Authorization": "Bearer sandbox_card_a_key"}).json()
    assert listing["data"] == [
        {
            "settlement_date": settle.isoformat(),
            "batch_id": f"stl_card_a_{settle:%Y%m%d}",
            "lines": 5,
            "net": 941 + 2883 - 400 - 3000 - 1500,
            "url": f"/card_a/settlements/{settle}.csv",
        }
    ]


def test_cut_off_is_midnight_utc(client: Client) -> None:
    day = start_day(client)
    client.control("/clock", {"set": f"{day}T23:59:59.500000Z"})
    client.charge(reference="before_cut_off")
    client.advance(1)
    client.charge(reference="after_cut_off")
    client.advance(2 * 86400)
    assert [r["our_reference"] for r in fetch(client, "card_a", day + timedelta(days=1))] == ["before_cut_off"]
    assert [r["our_reference"] for r in fetch(client, "card_a", day + timedelta(days=2))] == ["after_cut_off"]


def test_settlement_faults(client: Client) -> None:
    day = start_day(client)
    settle = day + timedelta(days=1)
    for reference in ("ord_a", "ord_b", "ord_c", "ord_d", "ord_e"):
        client.charge(amount=1000, reference=reference)
    client.advance(2 * 86400)
    faults = [
        {"mode": "drop_line", "reference": "ord_a"},
        {"mode": "alter_amount", "reference": "ord_b", "delta": -100},
        {"mode": "alter_fee", "reference": "ord_c", "delta": 5},
        {"mode": "duplicate_line", "reference": "ord_d"},
        {"mode": "settle_late", "reference": "ord_e"},
        {"mode": "unknown_charge", "amount": 4242},
    ]
    for fault in faults:
        client.control("/settlement_faults", {"provider": "card_a", "date": settle.isoformat(), **fault})
    rows = fetch(client, "card_a", settle)
    assert [(r["our_reference"], int(r["gross"]), int(r["fee"])) for r in rows] == [
        ("ord_b", 900, 59),
        ("ord_c", 1000, 64),
        ("ord_d", 1000, 59),
        ("ord_d", 1000, 59),
        (f"unknown_{settle:%Y%m%d}_1", 4242, 0),
    ]
    assert rows[-1]["provider_reference"].startswith("ch_unknown_")
    late = fetch(client, "card_a", settle + timedelta(days=1))
    assert [(r["our_reference"], r["settlement_date"]) for r in late] == [("ord_e", str(settle + timedelta(days=1)))]
    client.control("/reset")  # faults only
    assert len(fetch(client, "card_a", settle)) == 5


def test_generator(tmp_path: Path) -> None:
    out = tmp_path / "big.csv"
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.settlement_gen", "--lines", "5000", "--out", str(out), "--provider", "upi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    summary = json.loads(result.stderr)
    with out.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        charges: set[str] = set()
        count = net = 0
        for row in reader:
            count += 1
            net += int(row["net"])
            assert int(row["net"]) == int(row["gross"]) - int(row["fee"])
            assert re.fullmatch(r"\d{12}", row["rrn"])
            assert row["currency"] == "inr"
            if row["type"] == "charge":
                assert int(row["gross"]) > 0
                charges.add(row["provider_reference"])
            else:
                assert row["type"] in {"refund", "chargeback", "chargeback_reversal", "fee_adjustment"}
                assert row["original_provider_reference"] in charges
    assert count == summary["lines"] == 5000
    assert net == summary["net"]
    assert summary["refund"] > 0
    assert summary["chargeback"] > 0
