"""A described settlement file, loaded in set-based SQL (PostgreSQL): COPY the raw lines, validate and convert them.

The raw file is copied line by line, as text, into a temporary table (streamed in chunks: memory does not grow with
the file). One statement then splits every line by the connector's :class:`SettlementFormat`, checks each field
(dates and times are range-checked before any cast, so a bad value is a reason, never a database error), converts
the good lines into the staging table and the bad ones, with their reason, into ``InvalidSettlementLine``. Nothing
here knows a provider: the SQL is generated from the description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from django.db import connection

from core.currencies import currency_codes, currency_exponent
from payments.connectors.settlement import (
    TEXT_LIMITS,
    DatePattern,
    SettlementFormat,
)
from reconciliation.models import InvalidSettlementLine, SettlementLine

RAW = "recon_raw"
_COPY_CHUNK = 1 << 20
# Every line is one text value: a delimiter and a quote the file cannot hold (control bytes are refused before).
_COPY_RAW = f"COPY {RAW} (line) FROM STDIN WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
_SIGN = {"charge": 1, "refund": -1, "chargeback": -1, "chargeback_reversal": 1, "fee_adjustment": 0}


def _lit(text: str) -> str:
    """A SQL string literal of our own fixed text (field names, messages): never of the file's content."""
    return "'" + text.replace("'", "''") + "'"


def _posix(text: str) -> str:
    """``text`` matched literally inside a PostgreSQL regular expression."""
    return re.sub(r"([^A-Za-z0-9 _])", r"\\\1", text)


@dataclass(frozen=True)
class LoadResult:
    staged: int
    invalid: int
    first_error: tuple[int, str, bool] | None  # (line, reason, fatal) of the first bad line, fatal ones first


def copy_raw(source: IO[bytes]) -> None:
    """The file's lines into the temporary table, numbered from 1 in file order (COPY keeps it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {RAW}")
        cursor.execute(f"CREATE TEMP TABLE {RAW} (n bigint GENERATED ALWAYS AS IDENTITY, line text) ON COMMIT DROP")
        with cursor.cursor.copy(_COPY_RAW) as copy:
            while chunk := source.read(_COPY_CHUNK):
                copy.write(chunk)


def _date_valid(y: str, m: str, d: str) -> str:
    """True when the digits y-m-d are a calendar day; the month is checked before the day count is computed."""
    return (
        f"CASE WHEN ({y})::int < 1 OR ({m})::int NOT BETWEEN 1 AND 12 OR ({d})::int < 1 THEN false"
        f" ELSE ({d})::int <= extract(day from make_date(({y})::int, ({m})::int, 1) + interval '1 month - 1 day')"
        " END"
    )


def _date_value(match: str, pattern: DatePattern) -> str:
    y, m, d = (f"{match}[{pattern.groups[part]}]" for part in ("YYYY", "MM", "DD"))
    return f"CASE WHEN {match} IS NOT NULL AND {_date_valid(y, m, d)} THEN make_date({y}::int, {m}::int, {d}::int) END"


def _timestamp_value(match: str, pattern: DatePattern, timezone: str) -> str:
    g = {part: f"{match}[{number}]" for part, number in pattern.groups.items()}
    seconds = f"({g['SS']} || COALESCE({g['.FF']}, ''))::float8" if ".FF" in g else f"{g['SS']}::float8"
    local = (
        f"make_timestamp({g['YYYY']}::int, {g['MM']}::int, {g['DD']}::int, {g['HH']}::int, {g['MI']}::int, {seconds})"
    )
    valid = (
        f"{match} IS NOT NULL AND {_date_valid(g['YYYY'], g['MM'], g['DD'])}"
        f" AND {g['HH']}::int < 24 AND {g['MI']}::int < 60 AND {g['SS']}::int < 60"
    )
    if "TZ" in g:
        tz = g["TZ"]
        hours, minutes = f"substr({tz}, 2, 2)::int", f"right({tz}, 2)::int"
        sign = f"CASE WHEN left({tz}, 1) = '-' THEN -1 ELSE 1 END"
        offset = f"CASE WHEN {tz} = 'Z' THEN 0 ELSE ({sign}) * ({hours} * 60 + {minutes}) END"
        valid += f" AND ({tz} = 'Z' OR ({hours} < 24 AND {minutes} < 60))"
        value = f"({local} AT TIME ZONE 'UTC') - make_interval(mins => {offset})"
    else:
        value = f"{local} AT TIME ZONE {_lit(timezone)}"
    return f"CASE WHEN {valid} THEN {value} END"


def _amount_value(text: str, fmt: SettlementFormat) -> str:
    if fmt.amounts == "minor":
        return f"CASE WHEN {text} ~ '^-?[0-9]{{1,18}}$' THEN {text}::bigint END"
    return (
        f"CASE WHEN exponent IS NOT NULL AND {text} ~ '^-?[0-9]{{1,15}}([.][0-9]{{1,9}})?$'"
        f" AND length(split_part({text}, '.', 2)) <= exponent"
        f" THEN ({text}::numeric * power(10::numeric, exponent))::bigint END"
    )


def _split(fmt: SettlementFormat) -> str:
    """The line's fields as a text array, NULL when its quoting is broken. Lines without the quote character, nearly
    all of them, are split by ``string_to_array``; the others by a regular expression for quoted fields."""
    d, q = _lit(fmt.delimiter), _lit(fmt.quote)
    dr, qr = _posix(fmt.delimiter), _posix(fmt.quote)
    field_re = _lit(f"({qr}(?:[^{qr}]|{qr}{qr})*{qr}|[^{dr}{qr}]*){dr}")
    unquoted = (
        f"CASE WHEN left(m[1], 1) = {q} THEN replace(substr(m[1], 2, length(m[1]) - 2), {q} || {q}, {q}) ELSE m[1] END"
    )
    quoted = (
        f"(SELECT CASE WHEN string_agg(m[1] || {d}, '' ORDER BY o) = r.line || {d}"  # noqa: S608 - our fixed text
        f" THEN array_agg({unquoted} ORDER BY o) END"
        f" FROM regexp_matches(r.line || {d}, {field_re}, 'g') WITH ORDINALITY AS x(m, o))"
    )
    plain = f"string_to_array(r.line, {d})"
    return f"CASE WHEN r.line IS NULL THEN NULL WHEN strpos(r.line, {q}) = 0 THEN {plain} ELSE {quoted} END"


def _load_sql(fmt: SettlementFormat) -> str:
    width = len(fmt.columns)

    def cell(field: str) -> str:
        position = fmt.column_of(field)
        return "NULL::text" if position is None else f"f[{position}]"

    words = fmt.provider_word()
    line_type = "CASE " + cell("type") + "".join(f" WHEN {_lit(w)} THEN {_lit(t)}" for w, t in words.items()) + " END"
    date_pattern, timestamp_pattern = fmt.date_pattern(), fmt.timestamp_pattern()
    texts = ", ".join(
        f"{cell(name)} AS {name}_s"
        for name in (*TEXT_LIMITS, "currency", "gross", "fee", "net", "settlement_date", "transaction_date", "type")
    )
    cells = f"""
        SELECT s.n, s.last, COALESCE(cardinality(s.f), 0) AS width, {texts},
               {line_type} AS line_type,
               regexp_match({cell("settlement_date")}, {_lit(date_pattern.regex)}) AS sd,
               regexp_match({cell("transaction_date")}, {_lit(timestamp_pattern.regex)}) AS td,
               cur.code AS currency, cur.exponent
        FROM split s
        LEFT JOIN unnest(%(codes)s::text[], %(codes_out)s::text[], %(exponents)s::int[])
            AS cur(file_code, code, exponent) ON cur.file_code = {cell("currency")}
    """  # noqa: S608 - generated from the format, every file value a column
    amount = {name: _amount_value(f"{name}_s", fmt) for name in ("gross", "fee", "net")}
    fee = amount["fee"] if fmt.column_of("fee") else "0::bigint"
    net = amount["net"] if fmt.column_of("net") else "NULL::bigint"
    settlement_date = _date_value("sd", date_pattern) if fmt.column_of("settlement_date") else "%(day)s::date"
    converted = f"""
        SELECT c.*, {amount["gross"]} AS gross, {fee} AS fee, {net} AS net_given, {settlement_date} AS settlement_date,
               {_timestamp_value("td", timestamp_pattern, fmt.timezone)} AS transaction_date
        FROM cells c
    """  # noqa: S608 - generated from the format, every file value a column
    noun = "an integer amount" if fmt.amounts == "minor" else "a decimal amount within the currency exponent"

    def says(*parts: str) -> str:
        """A reason: our fixed words as literals, joined with the SQL expressions between them."""
        return " || ".join(part[1:] if part.startswith("=") else _lit(part) for part in parts)

    checks = [
        (f"width <> {width}", says("=width", f" fields, expected {width} (truncated or malformed line)")),
        ("line_type IS NULL", says("unknown line type ", "=quote_nullable(type_s)")),
        (
            "currency IS NULL",
            says("currency ", "=quote_nullable(currency_s)", f" is not {fmt.currency_case}-case ISO 4217"),
        ),
        *(
            (f"{name} IS NULL", says(f"{name} ", f"=quote_nullable({name}_s)", f" is not {noun}"))
            for name in ("gross", "fee")
            if fmt.column_of(name)
        ),
    ]
    if fmt.column_of("net"):
        checks += [
            ("net_given IS NULL", says("net ", "=quote_nullable(net_s)", f" is not {noun}")),
            ("net_given <> gross - fee", says("net ", "=net_given", " is not gross ", "=gross", " minus fee ", "=fee")),
        ]
    positive = ", ".join(_lit(t) for t, s in _SIGN.items() if s > 0)
    negative = ", ".join(_lit(t) for t, s in _SIGN.items() if s < 0)
    checks += [
        (
            f"CASE WHEN line_type IN ({positive}) THEN gross <= 0 WHEN line_type IN ({negative}) THEN gross >= 0"
            " ELSE gross <> 0 END",
            says("gross ", "=gross", " has the wrong sign for a ", "=line_type", " line"),
        ),
        ("COALESCE(provider_reference_s, '') = ''", says("provider_reference is required")),
    ]
    if fmt.column_of("batch_id"):
        checks.append(("COALESCE(batch_id_s, '') = ''", says("batch_id is required")))
    checks += [
        (f"length({name}_s) > {limit}", says(f"{name} is longer than {limit} characters"))
        for name, limit in TEXT_LIMITS.items()
        if fmt.column_of(name)
    ]
    checks += [
        (
            "settlement_date IS NULL",
            says(
                "settlement_date ", "=quote_nullable(settlement_date_s)", f" is not a date like {date_pattern.pattern}"
            ),
        ),
        (
            "transaction_date IS NULL",
            says(
                "transaction_date ",
                "=quote_nullable(transaction_date_s)",
                f" is not a timestamp like {timestamp_pattern.pattern}",
            ),
        ),
        (
            "settlement_date <> %(day)s::date",
            says("settlement_date ", "=settlement_date_s", " in the file of ", "=%(day)s"),
        ),
    ]
    error = "CASE " + " ".join(f"WHEN {condition} THEN {reason}" for condition, reason in checks) + " END"
    # Not this file at all: a line of another day, or a last line cut short (a truncated download).
    fatal = (
        f"(width = {width} AND settlement_date IS NOT NULL AND settlement_date <> %(day)s::date)"
        f" OR (last AND %(unterminated)s AND width <> {width})"
    )
    staged = SettlementLine._meta.db_table
    invalid = InvalidSettlementLine._meta.db_table
    return f"""
        WITH split AS (
            SELECT r.n, r.n = %(last)s AS last, {_split(fmt)} AS f FROM {RAW} r WHERE r.n > %(first)s
        ),
        cells AS ({cells}),
        converted AS ({converted}),
        checked AS (SELECT v.*, {error} AS error, {fatal} AS fatal FROM converted v),
        staged AS (
            INSERT INTO {staged} (file_id, connector, line_number, batch_id, settlement_date, type,
                                  provider_reference, our_reference, rrn, currency, gross, fee, net,
                                  transaction_date, original_provider_reference)
            SELECT %(file)s, %(connector)s, n, COALESCE(batch_id_s, ''), settlement_date, line_type,
                   provider_reference_s, COALESCE(our_reference_s, ''), COALESCE(rrn_s, ''), currency, gross, fee,
                   gross - fee, transaction_date, COALESCE(original_provider_reference_s, '')
            FROM checked WHERE error IS NULL
            RETURNING 1
        ),
        bad AS (
            INSERT INTO {invalid} (file_id, line_number, reason, fatal)
            SELECT %(file)s, n, left(error, 500), fatal IS TRUE FROM checked WHERE error IS NOT NULL
            RETURNING 1
        )
        SELECT (SELECT COUNT(*) FROM staged), (SELECT COUNT(*) FROM bad)
    """  # noqa: S608 - generated from the format and our table names; every value is a parameter


def raw_header() -> str | None:
    """The copied file's first line (a byte-order mark dropped), or None for an empty file."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT line FROM {RAW} WHERE n = 1")  # noqa: S608 - fixed name
        row = cursor.fetchone()
    return None if row is None else str(row[0] or "").lstrip("\ufeff")


def load_described(
    *, file_id: int, connector: str, settlement_date: date, fmt: SettlementFormat, lines: int, unterminated: bool
) -> LoadResult:
    """Validate and convert the copied lines (see :func:`copy_raw`) into the staging table, the bad ones into
    ``InvalidSettlementLine``; ``lines`` is how many the file has, ``unterminated`` whether its last one lacks its
    line end."""
    codes = currency_codes()
    params: dict[str, Any] = {
        "codes": [code.upper() if fmt.currency_case == "upper" else code for code in codes],
        "codes_out": codes,
        "exponents": [currency_exponent(code) for code in codes],
        "day": settlement_date.isoformat(),
        "file": file_id,
        "connector": connector,
        "first": 1 if fmt.header else 0,
        "last": lines,
        "unterminated": unterminated,
    }
    with connection.cursor() as cursor:
        cursor.execute(_load_sql(fmt), params)
        staged, invalid = cursor.fetchone()
        first_error = None
        if invalid:
            cursor.execute(
                f"SELECT line_number, reason, fatal FROM {InvalidSettlementLine._meta.db_table}"  # noqa: S608 - fixed
                " WHERE file_id = %s ORDER BY fatal DESC, line_number LIMIT 1",
                (file_id,),
            )
            line_number, reason, fatal = cursor.fetchone()
            first_error = (int(line_number), str(reason), bool(fatal))
    return LoadResult(staged=int(staged), invalid=int(invalid), first_error=first_error)
