"""A provider's settlement file, described rather than parsed: its columns, their types, its date and amount formats.

Reconciliation copies the raw file into a text staging table and validates and converts it in set-based SQL from
this description (``reconciliation/services/formats.py``), so a provider whose file differs (another delimiter, column
order or names, decimal amounts, its own words for line types, local-time timestamps) is a new description, not new
parsing code. Everything here is plain data: no models, no SQL.

Dates and timestamps are patterns of fixed-width tokens, every other character literal:

* ``YYYY`` year, ``MM`` month, ``DD`` day, ``HH`` hour (00-23), ``MI`` minute, ``SS`` second;
* ``.FF`` an optional fraction of a second (a dot and 1-9 digits);
* ``TZ`` the offset: ``Z``, ``±HH:MM`` or ``±HHMM``. A timestamp pattern without it is in the format's ``timezone``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from payments.connectors.base import SettlementLineType

LineField = Literal[
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
ColumnType = Literal["text", "line_type", "currency", "amount", "date", "timestamp"]

# The type every line field is read as; a column's type is its field's.
FIELD_TYPES: Mapping[str, ColumnType] = MappingProxyType(
    {
        "batch_id": "text",
        "settlement_date": "date",
        "type": "line_type",
        "provider_reference": "text",
        "our_reference": "text",
        "rrn": "text",
        "currency": "currency",
        "gross": "amount",
        "fee": "amount",
        "net": "amount",
        "transaction_date": "timestamp",
        "original_provider_reference": "text",
    }
)
# A line cannot be matched without these; the others have a meaning when absent (see SettlementFormat).
REQUIRED_FIELDS = frozenset({"type", "provider_reference", "currency", "gross", "transaction_date"})
# The widths of the staging table's text columns: a longer value is an invalid line, not a database error.
TEXT_LIMITS: Mapping[str, int] = MappingProxyType(
    {"batch_id": 64, "provider_reference": 255, "our_reference": 255, "rrn": 32, "original_provider_reference": 255}
)
LINE_TYPES: tuple[SettlementLineType, ...] = ("charge", "refund", "chargeback", "chargeback_reversal", "fee_adjustment")

_TOKENS = {
    # [0-9], not \d: PostgreSQL's \d matches other scripts' digits too, which no cast to int accepts.
    "YYYY": "([0-9]{4})",
    "MM": "([0-9]{2})",
    "DD": "([0-9]{2})",
    "HH": "([0-9]{2})",
    "MI": "([0-9]{2})",
    "SS": "([0-9]{2})",
    ".FF": "([.][0-9]{1,9})?",
    "TZ": "(Z|[+-][0-9]{2}:?[0-9]{2})",
}
_TOKEN = re.compile("|".join(re.escape(token) for token in sorted(_TOKENS, key=len, reverse=True)))
DATE_PARTS = ("YYYY", "MM", "DD")
TIMESTAMP_PARTS = ("YYYY", "MM", "DD", "HH", "MI", "SS")


@dataclass(frozen=True)
class DatePattern:
    """A date or timestamp pattern compiled to one regular expression (POSIX and Python alike) and the group
    number of each token in it."""

    pattern: str
    regex: str
    groups: Mapping[str, int]


def compile_pattern(pattern: str, *, parts: tuple[str, ...]) -> DatePattern:
    regex, groups, position = ["^"], {}, 0
    for number, token in enumerate(_TOKEN.finditer(pattern), start=1):
        regex.append(re.escape(pattern[position : token.start()]))
        regex.append(_TOKENS[token.group()])
        if token.group() in groups:
            raise ValueError(f"{pattern!r}: {token.group()} twice")
        groups[token.group()] = number
        position = token.end()
    regex.append(re.escape(pattern[position:]) + "$")
    missing = [part for part in parts if part not in groups]
    if missing:
        raise ValueError(f"{pattern!r} lacks {', '.join(missing)}")
    return DatePattern(pattern, "".join(regex), MappingProxyType(groups))


@dataclass(frozen=True)
class SettlementColumn:
    """One column of the file, by its header name: the line field it fills, or None for a column we do not read."""

    name: str
    field: LineField | None = None

    @property
    def type(self) -> ColumnType | None:
        return None if self.field is None else FIELD_TYPES[self.field]


@dataclass(frozen=True)
class SettlementFormat:
    """The layout of one provider's settlement file; one record per line.

    Fields without a column: ``settlement_date`` is the file's day, ``net`` is ``gross - fee``, ``fee`` is 0, and
    the text fields are empty. ``amounts`` says whether amounts are integers of minor units (``minor``) or decimals
    in the currency's units with at most its ISO 4217 exponent of decimals (``decimal``: ``10.5`` USD is 1050).
    ``line_types`` maps the provider's words for line types to ours (identity when empty). Lines that are not valid
    are either the end of the file's import (``invalid_lines="reject"``: nothing of the file is kept, and the
    first bad line is named) or each an ``invalid_line`` discrepancy while the rest is matched (``"queue"``).
    """

    columns: tuple[SettlementColumn, ...]
    delimiter: str = ","
    quote: str = '"'
    header: bool = True
    date_format: str = "YYYY-MM-DD"
    timestamp_format: str = "YYYY-MM-DDTHH:MI:SS.FFTZ"
    timezone: str = "UTC"
    amounts: Literal["minor", "decimal"] = "minor"
    currency_case: Literal["lower", "upper"] = "lower"
    line_types: Mapping[str, SettlementLineType] = field(default_factory=dict)
    invalid_lines: Literal["reject", "queue"] = "reject"

    def __post_init__(self) -> None:
        fields = [column.field for column in self.columns if column.field is not None]
        if len(fields) != len(set(fields)):
            raise ValueError("a line field is filled by one column at most")
        if missing := REQUIRED_FIELDS - set(fields):
            raise ValueError(f"no column for {', '.join(sorted(missing))}")
        if len(self.delimiter) != 1 or len(self.quote) != 1 or self.delimiter == self.quote:
            raise ValueError("delimiter and quote are two different single characters")
        if unknown := set(self.line_types.values()) - set(LINE_TYPES):
            raise ValueError(f"unknown line types {sorted(unknown)}")
        self.date_pattern()
        self.timestamp_pattern()

    def date_pattern(self) -> DatePattern:
        return compile_pattern(self.date_format, parts=DATE_PARTS)

    def timestamp_pattern(self) -> DatePattern:
        return compile_pattern(self.timestamp_format, parts=TIMESTAMP_PARTS)

    @property
    def header_line(self) -> str:
        return self.delimiter.join(column.name for column in self.columns)

    def column_of(self, line_field: str) -> int | None:
        """The 1-based position of the column filling ``line_field``, or None."""
        for position, column in enumerate(self.columns, start=1):
            if column.field == line_field:
                return position
        return None

    def provider_word(self) -> Mapping[str, SettlementLineType]:
        """The provider's word for each line type → ours."""
        return self.line_types or {line_type: line_type for line_type in LINE_TYPES}
