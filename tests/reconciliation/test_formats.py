"""A settlement format is a description: another provider's file (other delimiter, columns, words, decimal amounts,
local-time timestamps) is read with no parsing code, and its bad lines are reasons, never a database error."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ledger.verification import verify_ledger
from payments.connectors.sandbox_card import SandboxCardConnector
from payments.connectors.settlement import SettlementColumn, SettlementFormat
from reconciliation.exceptions import SettlementRejectedError
from reconciliation.models import Discrepancy, InvalidSettlementLine, SettlementFile, SettlementLine
from tests.reconciliation.conftest import DAY, HEADER, Day, Line, found, payment_of, reconcile, resolve_all

KOLKATA = ZoneInfo("Asia/Kolkata")
# Another acquirer's file: semicolons, its own column names and order, a column of its own we do not read, its own
# words for line types, decimal amounts in upper-case currencies, no net, dates and local times day first.
SEMICOLONS = SettlementFormat(
    columns=(
        SettlementColumn("Booking Time", "transaction_date"),
        SettlementColumn("Kind", "type"),
        SettlementColumn("Shop"),
        SettlementColumn("PSP Ref", "provider_reference"),
        SettlementColumn("Merchant Ref", "our_reference"),
        SettlementColumn("Ccy", "currency"),
        SettlementColumn("Gross", "gross"),
        SettlementColumn("Commission", "fee"),
        SettlementColumn("Value Date", "settlement_date"),
    ),
    delimiter=";",
    date_format="DD.MM.YYYY",
    timestamp_format="DD.MM.YYYY HH:MI:SS",
    timezone="Asia/Kolkata",
    amounts="decimal",
    currency_case="upper",
    line_types={"SALE": "charge", "REFUND": "refund", "CHARGEBACK": "chargeback"},
    invalid_lines="queue",
)
WORDS = {"charge": "SALE", "refund": "REFUND", "chargeback": "CHARGEBACK"}


class SemicolonAcquirer(SandboxCardConnector):
    """The sandbox's card acquirer with that file: a description, no parser."""

    def settlement_format(self) -> SettlementFormat:
        return SEMICOLONS


def semicolons(lines: list[Line], day: date = DAY, *, shop: str = "Acme") -> bytes:
    rows = [SEMICOLONS.header_line]
    for line in lines:
        local = line.transaction_date.astimezone(KOLKATA)
        rows.append(
            ";".join(
                (
                    f"{local:%d.%m.%Y %H:%M:%S}",
                    WORDS[line.type],
                    shop,
                    line.provider_reference,
                    line.our_reference,
                    line.currency.upper(),
                    f"{line.gross / 100:.2f}",
                    f"{line.fee / 100:.2f}",
                    f"{day:%d.%m.%Y}",
                )
            )
        )
    return ("\r\n".join(rows) + "\r\n").encode()


@pytest.fixture
def card_t(settings: Any, day: Day) -> Day:
    settings.PSP_CONNECTORS = {
        **settings.PSP_CONNECTORS,
        "card_t": {**settings.PSP_CONNECTORS["card_a"], "class": f"{__name__}.SemicolonAcquirer"},
    }
    day.connector = "card_t"
    return day


def test_another_providers_file_is_read_from_its_description_alone(card_t: Day) -> None:
    first, second = card_t.capture(12_345, fee=370), card_t.capture(500, fee=0)
    refund = card_t.refund(first, 2_000)

    run = reconcile(semicolons([first, second, refund], shop='"Acme; Sons ""Ltd"""'), connector="card_t")

    assert (run.lines, run.matched, found()) == (3, 3, set())
    staged = SettlementLine.objects.get(provider_reference=first.provider_reference)
    assert (staged.type, staged.gross, staged.fee, staged.net, staged.currency) == (
        "charge",
        12_345,
        370,
        11_975,
        "usd",
    )
    assert staged.transaction_date == first.transaction_date  # local time in Kolkata, back to the same instant
    assert (staged.settlement_date, staged.batch_id, staged.line_number) == (DAY, "", 2)


def test_bad_lines_of_a_queued_format_are_discrepancies_with_their_reason_and_the_rest_is_matched(
    card_t: Day,
) -> None:
    good, malformed, bad_date, bad_amount = (card_t.capture(1_000 * n) for n in (1, 2, 3, 4))
    rows = semicolons([good, malformed, bad_date, bad_amount]).decode().split("\r\n")
    rows[2] = rows[2].rsplit(";", 3)[0]  # three fields short
    rows[3] = rows[3].replace(rows[3].split(";")[0], "30.02.2025 10:00:00")
    rows[4] = rows[4].replace(";40.00;", ";40.001;")

    run = reconcile("\r\n".join(rows).encode(), connector="card_t")

    settlement_file = SettlementFile.objects.get()
    assert (run.matched, settlement_file.line_count) == (1, 1)
    reasons = dict(InvalidSettlementLine.objects.values_list("line_number", "reason"))
    assert reasons == {
        3: "6 fields, expected 9 (truncated or malformed line)",
        4: "transaction_date '30.02.2025 10:00:00' is not a timestamp like DD.MM.YYYY HH:MI:SS",
        5: "gross '40.001' is not a decimal amount within the currency exponent",
    }
    invalid = {(d.kind, d.line_number, d.detail) for d in Discrepancy.objects.filter(kind="invalid_line")}
    assert invalid == {("invalid_line", number, reason) for number, reason in reasons.items()}
    # Their captures are not settled by a line we could read: each waits as timing for a corrected file.
    assert {key for kind, key in found() if kind == "timing"} == {
        payment_of(line) for line in (malformed, bad_date, bad_amount)
    }

    resolve_all()  # nothing known to post for an unreadable line: acknowledged, the ledger untouched by it
    assert verify_ledger().ok


def test_the_same_bad_values_reject_a_file_whose_format_says_reject_naming_the_line(day: Day) -> None:
    good = day.capture()
    for bad, says in (
        (Line.csv(good, DAY).replace("2025-01-01T", "2025-02-30T"), "line 2: transaction_date '2025-02-30T"),
        (Line.csv(good, DAY).replace("T10:00", "T24:00"), "is not a timestamp like YYYY-MM-DDTHH:MI:SS.FFTZ"),
        (Line.csv(good, DAY).replace(",charge,", ",sale,"), "line 2: unknown line type 'sale'"),
        (Line.csv(good, DAY).replace(",10000,320,9680,", ",-10000,320,-10320,"), "line 2: gross -10000 has the wrong"),
    ):
        with pytest.raises(SettlementRejectedError, match=says):
            reconcile((HEADER + bad).encode())
    assert not SettlementFile.objects.exists()
    assert not InvalidSettlementLine.objects.exists()


def test_a_line_of_another_day_rejects_even_a_queued_format(card_t: Day) -> None:
    line = card_t.capture()

    with pytest.raises(SettlementRejectedError, match=r"line 2: settlement_date 03\.01\.2025 in the file of"):
        reconcile(semicolons([line], DAY + timedelta(days=1)), connector="card_t")


def test_a_description_without_what_matching_needs_is_refused_when_written() -> None:
    with pytest.raises(ValueError, match=r"no column for .*provider_reference"):
        SettlementFormat(columns=(SettlementColumn("t", "type"), SettlementColumn("c", "currency")))
    with pytest.raises(ValueError, match="lacks DD"):
        SettlementFormat(columns=SEMICOLONS.columns, date_format="YYYY-MM")
