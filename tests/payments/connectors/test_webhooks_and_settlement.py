"""Verifying the sandbox's signed webhooks, and streaming its settlement files (real and deliberately broken)."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import date

import pytest

from payments.connectors import registry
from payments.connectors.base import (
    AuthorizeRequest,
    Outcome,
    ProviderState,
    RawCard,
    RefundRequest,
    SettlementFormatError,
    WebhookVerificationError,
)
from payments.connectors.sandbox_common import SETTLEMENT_COLUMNS
from tests.psp_sandbox import KEYS, ROOT, receiving

pytestmark = pytest.mark.usefixtures("psp")

HEADER = ",".join(SETTLEMENT_COLUMNS) + "\n"
GOOD_LINE = "stl_card_a_20250102,2025-01-02,charge,ch_1,att_1,,usd,1000,59,941,2025-01-01T10:00:00.000000Z,\n"


def charge(name: str = "card_a", amount: int = 1000) -> str:
    connector = registry.connector_get(name)
    token = connector.tokenize(
        RawCard(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123"), idempotency_key=uuid.uuid4().hex
    ).token
    reference = f"att_{uuid.uuid4().hex[:12]}"
    result = connector.authorize(
        AuthorizeRequest(reference=reference, idempotency_key=reference, amount=amount, currency="usd", token=token)
    )
    assert result.outcome is Outcome.SUCCEEDED
    return reference


def test_a_signed_sandbox_webhook_verifies_and_parses_like_a_status_lookup(psp):
    with receiving(psp) as hook:
        reference = charge()
        delivery = hook.wait_for(lambda ds: any(d["event"]["type"] == "charge.captured" for d in ds))[-1]
    event = registry.connector_get("card_a").verify_webhook(delivery["raw"], delivery["headers"])
    assert event.id.startswith("evt_")
    assert (event.type, event.connector, event.object_kind) == ("charge.captured", "card_a", "payment")
    assert (event.result.reference, event.result.state, event.result.amount) == (
        reference,
        ProviderState.CAPTURED,
        1000,
    )


def test_a_bad_signature_is_rejected(psp):
    with receiving(psp) as hook:
        charge()
        delivery = hook.wait_for(lambda ds: len(ds) >= 1)[0]
    raw, headers = delivery["raw"], delivery["headers"]
    with pytest.raises(WebhookVerificationError):
        registry.connector_get("card_a").verify_webhook(raw + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        registry.connector_get("card_b").verify_webhook(raw, headers)  # another provider's secret
    with pytest.raises(WebhookVerificationError):
        registry.connector_get("card_a").verify_webhook(raw, {})
    with pytest.raises(WebhookVerificationError):
        registry.connector_get("card_a").verify_webhook(raw, headers, now=time.time() + 301)


def test_a_real_settlement_file_streams_into_typed_lines(psp):
    reference = charge("card_a", 3000)
    connector = registry.connector_get("card_a")
    charge_id = connector.status(reference).provider_reference
    refund = connector.refund(
        RefundRequest(
            reference="re_stl_1", idempotency_key="re_stl_1", provider_reference=charge_id, amount=1000, currency="usd"
        )
    )
    assert refund.outcome is Outcome.SUCCEEDED
    today = date.fromisoformat(psp.control_get("/clock")["now"][:10])
    psp.advance(86400)
    day = date.fromordinal(today.toordinal() + 1)
    response = psp.http.get(f"/card_a/settlements/{day}.csv", headers={"Authorization": f"Bearer {KEYS['card_a']}"})
    assert response.status_code == 200, response.text
    lines = list(connector.parse_settlement(io.BytesIO(response.content)))
    assert [(line.line_number, line.type, line.gross, line.fee, line.net) for line in lines] == [
        (2, "charge", 3000, 117, 2883),
        (3, "refund", -1000, 0, -1000),
    ]
    assert lines[0].our_reference == reference
    assert lines[1].original_provider_reference == charge_id
    assert lines[0].settlement_date == day


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"", 1, "header line is missing"),
        (b"batch_id,settlement_date,type\n" + GOOD_LINE.encode(), 1, "unexpected header"),
        ((HEADER + GOOD_LINE.replace(",1000,59,941,", ",10.00,59,941,")).encode(), 2, "gross '10.00'"),
        ((HEADER + GOOD_LINE + GOOD_LINE.replace(",941,", ",940,")).encode(), 3, "net 940"),
        ((HEADER + GOOD_LINE + GOOD_LINE[:40]).encode(), 3, "truncated"),
        ((HEADER + GOOD_LINE.replace("att_1", "att_\u00e9")).encode("latin-1"), 2, "not UTF-8"),
        ((HEADER + GOOD_LINE.replace(",charge,", ",bonus,")).encode(), 2, "unknown line type"),
        ((HEADER + GOOD_LINE.replace(",charge,", ",refund,")).encode(), 2, "wrong sign"),
        ((HEADER + GOOD_LINE.replace(",usd,", ",USD,")).encode(), 2, "currency"),
        ((HEADER + GOOD_LINE.replace("2025-01-02,", "2025-13-02,")).encode(), 2, "settlement_date"),
    ],
    ids=["empty", "bad-header", "bad-amount", "net", "truncated", "encoding", "type", "sign", "currency", "date"],
)
def test_a_malformed_settlement_file_names_its_line(content, line, message):
    parsed = registry.connector_get("card_a").parse_settlement(io.BytesIO(content))
    with pytest.raises(SettlementFormatError) as info:
        list(parsed)
    assert info.value.line_number == line
    assert message in str(info.value)


def test_settlement_lines_before_a_bad_one_are_yielded_first():
    content = (HEADER + GOOD_LINE + GOOD_LINE.replace(",usd,", ",US,")).encode()
    parsed = registry.connector_get("card_a").parse_settlement(io.BytesIO(content))
    assert next(parsed).line_number == 2
    with pytest.raises(SettlementFormatError):
        next(parsed)


def test_a_utf8_bom_is_accepted():
    content = ("\ufeff" + HEADER + GOOD_LINE).encode()
    assert len(list(registry.connector_get("card_a").parse_settlement(io.BytesIO(content)))) == 1


def _peak_bytes_parsing(path) -> int:
    tracemalloc.start()
    try:
        with path.open("rb") as file:
            count = sum(1 for _ in registry.connector_get("card_a").parse_settlement(file))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_settlement_parsing_streams_in_flat_memory(tmp_path):
    peaks = {}
    for lines in (2_000, 20_000):
        path = tmp_path / f"{lines}.csv"
        subprocess.run(
            [sys.executable, "-m", "sandbox.settlement_gen", "--lines", str(lines), "--out", str(path)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        count, peaks[lines] = _peak_bytes_parsing(path)
        assert count == lines
    # Ten times the lines, about the same peak: nothing accumulates per line.
    assert peaks[20_000] < peaks[2_000] * 1.5 + 16_384
