from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from reconciliation.alerts import ALERT_METRIC
from reconciliation.enums import SettlementFileSource
from reconciliation.exceptions import SettlementRejectedError
from reconciliation.metrics import counter_value
from reconciliation.models import SettlementFile, SettlementLine
from reconciliation.services import formats
from reconciliation.services.imports import settlement_file_import
from tests.reconciliation.conftest import DAY, HEADER, Day, Line, reconcile, settlement_csv


def _import(content: bytes) -> tuple[SettlementFile, bool]:
    result = settlement_file_import(
        connector="card_a", settlement_date=DAY, source=io.BytesIO(content), source_kind=SettlementFileSource.UPLOAD
    )
    return result.file, result.created


def test_the_same_file_twice_is_one_file_kept_byte_for_byte(day: Day) -> None:
    content = settlement_csv([day.capture(), day.capture()])
    first, created = _import(content)
    again, created_again = _import(content)

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert SettlementLine.objects.filter(file=first).count() == first.line_count == 2
    with first.raw.open("rb") as raw:
        assert raw.read() == content


GOOD = Line("charge", "ch_1", "att_1", 1000, 30).csv(DAY)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"batch,date\n" + GOOD.encode(), "line 1: unexpected header"),
        ((HEADER + GOOD + GOOD.replace(",1000,", ",10.00,")).encode(), "line 3: gross '10.00' is not an integer"),
        ((HEADER + GOOD).encode() + "caf\u00e9".encode("latin-1") + b"\n", "line 3: not UTF-8"),
        ((HEADER + GOOD + GOOD[:40]).encode(), "line 3: 4 fields, expected 12 (truncated"),
        ((HEADER + GOOD.replace("2025-01-02,", "2025-01-03,", 1)).encode(), "line 2: settlement_date 2025-01-03"),
    ],
    ids=["bad header", "bad amount", "wrong encoding", "truncated", "another day"],
)
def test_a_malformed_file_is_rejected_with_its_line_and_nothing_is_kept(db: None, content: bytes, reason: str) -> None:
    with pytest.raises(SettlementRejectedError) as error:
        _import(content)

    assert reason in error.value.message
    assert not SettlementFile.objects.exists()
    assert not SettlementLine.objects.exists()


def test_new_discrepancies_over_the_threshold_alert_finance(day: Day) -> None:
    finance = Group.objects.create(name="Finance")
    User.objects.create_user("fin", email="finance@example.test").groups.add(finance)
    before = counter_value(ALERT_METRIC)

    reconcile(settlement_csv([Line("charge", "ch_stranger", "", 500, 0)]))

    assert counter_value(ALERT_METRIC) == before + 1
    assert [message.to for message in mail.outbox] == [["finance@example.test"]]
    assert "missing_in_ledger: 1" in mail.outbox[0].body


def test_a_nul_byte_or_a_made_up_currency_is_a_line_numbered_rejection(day: Day) -> None:
    good = day.capture()
    for bad, says in (
        (settlement_csv([good]).replace(b",usd,", b",u\x00d,"), "line 2: a NUL byte"),
        (settlement_csv([replace(good, currency="xyz")]), "line 2: currency 'xyz'"),
    ):
        with pytest.raises(SettlementRejectedError, match=says):
            reconcile(bad)
    assert not SettlementFile.objects.exists()


def test_an_unknown_connector_or_a_day_without_a_file_is_a_clear_command_error(
    db: None, psp_settings: None, sandbox: Any
) -> None:
    with pytest.raises(CommandError, match="no connector 'card_z'"):
        call_command("reconcile", "--connector", "card_z", "--date", "2025-01-02")
    with pytest.raises(CommandError, match="card_a has no settlement file for 2999-01-01 yet"):
        call_command("reconcile", "--connector", "card_a", "--date", "2999-01-01")


def _stage_raw(file_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reconciliation_settlementline (file_id, connector, line_number, batch_id, settlement_date,"
            " type, provider_reference, our_reference, rrn, currency, gross, fee, net, transaction_date,"
            " original_provider_reference)"
            " VALUES (%s, 'card_a', 2, 'b', %s, 'charge', 'ch_raw', '', '', 'usd', 1, 0, 1, %s, '')",
            [file_id, DAY, "2025-01-01T12:00:00+00:00"],
        )


def test_a_line_must_name_an_existing_file_and_a_file_keeps_its_lines(day: Day) -> None:
    """The database's own rules, whoever writes (the per-statement check that replaces the foreign key)."""
    settlement_file, _ = _import(settlement_csv([day.capture()]))
    with pytest.raises(IntegrityError), transaction.atomic():
        _stage_raw(settlement_file.pk + 1000)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE reconciliation_settlementline SET file_id = file_id + 1000")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM reconciliation_settlementfile WHERE id = %s", [settlement_file.pk])

    _stage_raw(settlement_file.pk)  # the file exists: accepted
    assert SettlementLine.objects.filter(file=settlement_file).count() == 2


def _staged_by_typed_load(content: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int | None], SettlementFile]:
    """Import ``content``, recording what the typed load (the fast path for a clean file) returned."""
    returned: list[int | None] = []
    typed = formats.load_typed

    def recording(**kwargs: Any) -> int | None:
        returned.append(typed(**kwargs))
        return returned[-1]

    monkeypatch.setattr(formats, "load_typed", recording)
    settlement_file, _ = _import(content)
    return returned, settlement_file


def test_a_clean_file_is_staged_by_the_typed_load(day: Day, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [day.capture(), day.capture()]

    returned, settlement_file = _staged_by_typed_load(settlement_csv(lines), monkeypatch)

    assert returned == [2]
    staged = SettlementLine.objects.filter(file=settlement_file).order_by("line_number")
    assert [(s.line_number, s.gross, s.fee, s.net) for s in staged] == [
        (2, lines[0].gross, lines[0].fee, lines[0].gross - lines[0].fee),
        (3, lines[1].gross, lines[1].fee, lines[1].gross - lines[1].fee),
    ]


def test_what_the_typed_loads_cheap_checks_do_not_pass_the_described_load_decides(
    day: Day, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leading zero is still an integer amount (the described load stages it); a leap second is not a time the
    format allows, though PostgreSQL's own input reads one (the file is rejected, naming the line)."""
    line = day.capture()
    text = Line.csv(line, DAY)
    padded = text.replace(f",{line.gross},", f",0{line.gross},", 1)

    returned, settlement_file = _staged_by_typed_load((HEADER + padded).encode(), monkeypatch)

    assert returned == [None]
    assert SettlementLine.objects.get(file=settlement_file).gross == line.gross
    leap = text.replace("T10:00:00", "T23:59:60")
    with pytest.raises(SettlementRejectedError, match="line 2: transaction_date '2025-01-01T23:59:60"):
        _import((HEADER + leap).encode())
