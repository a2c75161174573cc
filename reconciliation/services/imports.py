"""Settlement import: hash, stage every line in one transaction, keep the raw file. Constant memory throughout."""

from __future__ import annotations

import dataclasses
import hashlib
import operator
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import IO, Any

import structlog
from django.core.files import File
from django.db import IntegrityError, connection, transaction

from payments.connectors.base import SettlementFormatError, SettlementLine
from payments.connectors.registry import connector_get
from reconciliation.enums import SettlementFileSource, SettlementFileStatus
from reconciliation.exceptions import SettlementRejectedError
from reconciliation.models import SettlementFile
from reconciliation.models import SettlementLine as StagedLine

logger = structlog.get_logger(__name__)

_CHUNK_BYTES = 1 << 20
_INSERT_BATCH = 2000
# The staging table's columns are the parsed line's fields, plus which file and connector it came from.
LINE_FIELDS = tuple(field.name for field in dataclasses.fields(SettlementLine))
STAGED_COLUMNS = ("file_id", "connector", *LINE_FIELDS)
_line_values = operator.attrgetter(*LINE_FIELDS)


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
    with tempfile.TemporaryFile() as spool:
        digest, size = _spool(source, spool)
        identity = {"connector": connector, "settlement_date": settlement_date, "sha256": digest}
        existing = SettlementFile.objects.filter(**identity).first()
        if existing is not None:
            return ImportResult(existing, created=False)
        spool.seek(0)
        try:
            with transaction.atomic():
                settlement_file = SettlementFile.objects.create(
                    connector=connector,
                    settlement_date=settlement_date,
                    sha256=digest,
                    size=size,
                    source=source_kind,
                    uploaded_by=uploaded_by,
                )
                lines = _checked(parser.parse_settlement(spool), settlement_date)
                settlement_file.line_count = stage_lines(settlement_file.pk, connector, lines)
                spool.seek(0)
                name = f"{connector}_{settlement_date.isoformat()}_{digest[:16]}.csv"
                settlement_file.raw.save(name, File(spool, name=name), save=False)
                settlement_file.save(update_fields=["line_count", "raw"])
                superseded = SettlementFile.objects.filter(
                    connector=connector, settlement_date=settlement_date, superseded_by=None
                ).exclude(pk=settlement_file.pk)
                superseded.update(superseded_by=settlement_file, status=SettlementFileStatus.SUPERSEDED)
        except SettlementFormatError as exc:
            logger.warning("settlement_rejected", connector=connector, date=str(settlement_date), reason=str(exc))
            raise SettlementRejectedError(f"{connector} settlement {settlement_date}: {exc}") from exc
        except IntegrityError:
            # Imported concurrently by someone else a moment ago: the same file, so the same outcome.
            return ImportResult(SettlementFile.objects.get(**identity), created=False)
    logger.info("settlement_imported", connector=connector, date=str(settlement_date), lines=settlement_file.line_count)
    return ImportResult(settlement_file, created=True)


def _spool(source: IO[bytes], spool: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(_CHUNK_BYTES):
        digest.update(chunk)
        spool.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


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
