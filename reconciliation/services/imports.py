"""Settlement import: hash, stage every line in one transaction, keep the raw file. Constant memory throughout.

On PostgreSQL a connector that describes its file (``Connector.settlement_format``) is loaded in SQL: the raw lines
are copied as text and validated and converted there (``services/formats.py``). Elsewhere (the embedded SQLite
shape), or for a connector that only parses, its streaming parser feeds batched inserts.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import operator
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import IO, Any

import structlog
from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connection, transaction

from payments.connectors.base import SettlementFormatError, SettlementLine
from payments.connectors.registry import connector_get
from payments.connectors.settlement import SettlementFormat
from reconciliation.enums import SettlementFileSource, SettlementFileStatus
from reconciliation.exceptions import SettlementRejectedError
from reconciliation.models import SettlementFile
from reconciliation.models import SettlementLine as StagedLine
from reconciliation.services import formats

logger = structlog.get_logger(__name__)

_CHUNK_BYTES = 1 << 20
_INSERT_BATCH = 2000
# The staging table's columns are the parsed line's fields, plus which file and connector it came from.
LINE_FIELDS = tuple(field.name for field in dataclasses.fields(SettlementLine))
STAGED_COLUMNS = ("file_id", "connector", *LINE_FIELDS)
_line_values = operator.attrgetter(*LINE_FIELDS)
# Bytes no text line holds: NUL (PostgreSQL refuses it in text) and the other C0 controls but tab, line feed and
# carriage return (the raw COPY uses two of them as its delimiter and quote).
_CONTROL_BYTES = bytes(byte for byte in range(0x20) if byte not in b"\t\n\r")
_CONTROL = re.compile(b"[" + re.escape(_CONTROL_BYTES) + b"]")


@dataclass(frozen=True)
class _Spooled:
    sha256: str
    size: int
    lines: int
    unterminated: bool  # the last line has no line end: with a short last line, a cut download


@dataclass(frozen=True)
class ImportResult:
    file: SettlementFile
    created: bool  # False: this exact file (connector, day, SHA-256) was imported before, and nothing changed


def settlement_file_import(
    *,
    connector: str,
    settlement_date: date,
    source: IO[bytes],
    source_kind: SettlementFileSource,
    uploaded_by: str = "",
) -> ImportResult:
    """Import one settlement file, or find it again by its identity (connector, settlement date, content hash): the
    same file twice is a no-op. Other content for a connector-day already imported is the provider's corrected file:
    it supersedes the earlier one, whose lines stop counting (see ``settlement_file_reconcile``).

    Every line is parsed by the connector's streaming parser and staged inside one transaction, so a malformed file
    (bad header, amount, encoding, a truncated line, a line of another day) raises ``SettlementRejectedError`` naming
    the line, and nothing of it is kept. The raw bytes are stored unchanged.
    """
    parser = connector_get(connector)
    described = parser.settlement_format() if connection.vendor == "postgresql" else None
    with tempfile.TemporaryFile() as spool:
        try:
            spooled = _spool(source, spool)
        except SettlementFormatError as exc:
            raise _rejected(connector, settlement_date, exc) from exc
        identity = {"connector": connector, "settlement_date": settlement_date, "sha256": spooled.sha256}
        existing = SettlementFile.objects.filter(**identity).first()
        if existing is not None:
            return ImportResult(existing, created=False)
        spool.seek(0)
        try:
            with transaction.atomic():
                settlement_file = SettlementFile.objects.create(
                    connector=connector,
                    settlement_date=settlement_date,
                    sha256=spooled.sha256,
                    size=spooled.size,
                    source=source_kind,
                    uploaded_by=uploaded_by,
                )
                if described is not None:
                    settlement_file.line_count = _load(settlement_file, described, spool, spooled)
                else:
                    lines = _checked(parser.parse_settlement(spool), settlement_date)
                    settlement_file.line_count = stage_lines(settlement_file.pk, connector, lines)
                spool.seek(0)
                name = f"{connector}_{settlement_date.isoformat()}_{spooled.sha256[:16]}.csv"
                settlement_file.raw.save(name, File(spool, name=name), save=False)
                settlement_file.save(update_fields=["line_count", "raw"])
                superseded = SettlementFile.objects.filter(
                    connector=connector, settlement_date=settlement_date, superseded_by=None
                ).exclude(pk=settlement_file.pk)
                superseded.update(superseded_by=settlement_file, status=SettlementFileStatus.SUPERSEDED)
        except SettlementFormatError as exc:
            raise _rejected(connector, settlement_date, exc) from exc
        except IntegrityError:
            # Imported concurrently by someone else a moment ago: the same file, so the same outcome.
            return ImportResult(SettlementFile.objects.get(**identity), created=False)
    logger.info("settlement_imported", connector=connector, date=str(settlement_date), lines=settlement_file.line_count)
    return ImportResult(settlement_file, created=True)


def _rejected(connector: str, settlement_date: date, exc: SettlementFormatError) -> SettlementRejectedError:
    logger.warning("settlement_rejected", connector=connector, date=str(settlement_date), reason=str(exc))
    return SettlementRejectedError(f"{connector} settlement {settlement_date}: {exc}")


def _spool(source: IO[bytes], spool: IO[bytes]) -> _Spooled:
    """Copy the file aside, hashing it and counting its lines; refuse, naming the line, a file that is not UTF-8
    text (the SQL load reads it as such). All at C speed: no per-line Python."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = lines = 0
    last = b""
    while chunk := source.read(_CHUNK_BYTES):
        digest.update(chunk)
        spool.write(chunk)
        # Deleting the control bytes is a C loop, 3x faster than the regular expression, which then only finds the
        # first one when there is one.
        if len(chunk.translate(None, _CONTROL_BYTES)) != len(chunk) and (control := _CONTROL.search(chunk)):
            at = lines + chunk.count(b"\n", 0, control.start()) + 1
            what = "a NUL byte" if control.group() == b"\x00" else f"a control byte {control.group()!r}"
            raise SettlementFormatError(at, what)
        # An ASCII chunk after a complete character is UTF-8 as it is: no need to build its text to find out.
        if not (chunk.isascii() and not decoder.getstate()[0]):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = lines + chunk.count(b"\n", 0, max(exc.start, 0)) + 1
                raise SettlementFormatError(at, f"not UTF-8 ({exc.reason})") from exc
        size += len(chunk)
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise SettlementFormatError(lines + 1, f"not UTF-8 ({exc.reason})") from exc
    unterminated = size > 0 and last != b"\n"
    return _Spooled(digest.hexdigest(), size, lines + (1 if unterminated else 0), unterminated)


class _NotClean(Exception):
    pass


def _typed(settlement_file: SettlementFile, described: SettlementFormat, spool: IO[bytes]) -> int | None:
    """The fast path (``formats.load_typed``), undone to a savepoint when the file is not clean."""
    first = spool.readline().decode("utf-8-sig").rstrip("\r\n") if described.header else None
    if first is not None and first != described.header_line:
        return None  # the described load names the header
    spool.seek(0)
    try:
        with transaction.atomic():
            staged = formats.load_typed(
                source=spool,
                file_id=settlement_file.pk,
                connector=settlement_file.connector,
                settlement_date=settlement_file.settlement_date,
                fmt=described,
            )
            if staged is None:
                raise _NotClean
    except _NotClean:
        return None
    return staged


def _load(settlement_file: SettlementFile, described: SettlementFormat, spool: IO[bytes], spooled: _Spooled) -> int:
    """COPY the raw lines and load them as ``described``, in this transaction. A bad header, a line of another day
    or a cut last line rejects the file; other bad lines reject it too, or, when the format says ``queue``, are kept
    apart (``InvalidSettlementLine``) for reconciliation to put in the exception queue."""
    with connection.cursor() as cursor:
        # A million-line file is one statement: room for it, no JIT compile (slower than the statement here), and
        # past the application's statement timeout, for this transaction only (as for the matching).
        cursor.execute("SELECT set_config('work_mem', %s, true)", (settings.RECONCILIATION_WORK_MEM,))
        cursor.execute("SELECT set_config('jit', 'off', true)")
        cursor.execute("SELECT set_config('statement_timeout', '0', true)")
    if formats.natively_typed(described):
        staged = _typed(settlement_file, described, spool)
        if staged is not None:
            return staged
        spool.seek(0)
    formats.copy_raw(spool)
    if described.header:
        header = formats.raw_header()
        if header is None:
            raise SettlementFormatError(1, "empty file: the header line is missing")
        if header != described.header_line:
            raise SettlementFormatError(1, f"unexpected header {header!r}; expected {described.header_line!r}")
    loaded = formats.load_described(
        file_id=settlement_file.pk,
        connector=settlement_file.connector,
        settlement_date=settlement_file.settlement_date,
        fmt=described,
        lines=spooled.lines,
        unterminated=spooled.unterminated,
    )
    if loaded.first_error is not None:
        line_number, reason, fatal = loaded.first_error
        if fatal or described.invalid_lines == "reject":
            raise SettlementFormatError(line_number, reason)
    return loaded.staged


def _checked(lines: Iterable[SettlementLine], settlement_date: date) -> Iterator[SettlementLine]:
    for line in lines:
        if line.settlement_date != settlement_date:
            raise SettlementFormatError(
                line.line_number, f"settlement_date {line.settlement_date} in the file of {settlement_date}"
            )
        yield line


def _row(file_id: int, connector: str, line: SettlementLine) -> tuple[Any, ...]:
    return (file_id, connector, *_line_values(line))


def stage_lines(file_id: int, connector: str, lines: Iterable[SettlementLine]) -> int:
    """Bulk-load lines into the staging table: COPY on PostgreSQL, batched multi-row inserts elsewhere."""
    table = StagedLine._meta.db_table
    columns = ", ".join(STAGED_COLUMNS)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for line in lines:
                    copy.write_row(_row(file_id, connector, line))
                    count += 1
            return count
        placeholders = ", ".join(["%s"] * len(STAGED_COLUMNS))
        rows = (_row(file_id, connector, line) for line in lines)
        while batch := list(islice(rows, _INSERT_BATCH)):
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", batch)  # noqa: S608 - fixed names
            count += len(batch)
    return count
