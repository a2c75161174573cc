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

import psycopg
from django.db import connection

from core.currencies import currency_codes, currency_exponent
from payments.connectors.settlement import (
    DIGITS_AND_SIGNS,
    SHAPE_OF_THEM,
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
    """True when the integers y, m, d are a calendar day: integer arithmetic only, no date built to find out."""
    leap = f"(mod({y}, 4) = 0 AND (mod({y}, 100) <> 0 OR mod({y}, 400) = 0))"  # mod(): % is a placeholder here
    days = (
        f"CASE WHEN ({m}) = 2 THEN CASE WHEN {leap} THEN 29 ELSE 28 END WHEN ({m}) IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
    )
    return f"(({y}) >= 1 AND ({m}) BETWEEN 1 AND 12 AND ({d}) BETWEEN 1 AND {days})"


def _shaped(value: str, pattern: DatePattern) -> str:
    """True when ``value`` has one of the pattern's shapes (digits as 9, signs as ~): a C-speed translate and a
    hashed IN, where a regular expression would cost ~100 us a value."""
    shapes = ", ".join(_lit(shape) for shape in pattern.shapes)
    return f"translate({value}, {_lit(DIGITS_AND_SIGNS)}, {_lit(SHAPE_OF_THEM)}) IN ({shapes})"


def _part(value: str, pattern: DatePattern, token: str) -> str:
    return f"substr({value}, {pattern.positions[token]}, {len(token)})::int"


def _date_value(value: str, pattern: DatePattern) -> str:
    y, m, d = (_part(value, pattern, token) for token in ("YYYY", "MM", "DD"))
    return f"CASE WHEN {_shaped(value, pattern)} AND {_date_valid(y, m, d)} THEN make_date({y}, {m}, {d}) END"


def _timestamp_value(value: str, pattern: DatePattern, timezone: str) -> str:
    """Checked by shape and ranges, then built as ISO 8601 text and cast (PostgreSQL's own parser, in C): the cast
    cannot fail once the parts are in range."""
    y, m, d, h, mi, sec = (_part(value, pattern, token) for token in ("YYYY", "MM", "DD", "HH", "MI", "SS"))
    valid = f"{_shaped(value, pattern)} AND {_date_valid(y, m, d)} AND {h} < 24 AND {mi} < 60 AND {sec} < 60"
    p = pattern.positions
    if pattern.pattern.startswith(("YYYY-MM-DDTHH:MI:SS", "YYYY-MM-DD HH:MI:SS")):
        iso = value  # already ISO 8601, fraction and offset included
    else:
        text = {token: f"substr({value}, {p[token]}, {len(token)})" for token in p}
        iso = (
            f"{text['YYYY']} || '-' || {text['MM']} || '-' || {text['DD']} || ' ' || {text['HH']} || ':' ||"
            f" {text['MI']} || ':' || {text['SS']}"
        )
        if pattern.fraction or pattern.offset:
            iso += f" || substr({value}, {pattern.tail})"
    if not pattern.offset:
        return f"CASE WHEN {valid} THEN ({iso})::timestamp AT TIME ZONE {_lit(timezone)} END"
    # An offset's hours and minutes in range too (the shape fixed where they are: the last 5 or 6 characters).
    short = f"CASE WHEN substr({value}, length({value}) - 5, 1) IN ('+', '-') THEN 4 ELSE 3 END"
    tz_hours = f"substr({value}, length({value}) - {short}, 2)"
    valid += f" AND (right({value}, 1) = 'Z' OR ({tz_hours}::int < 24 AND right({value}, 2)::int < 60))"
    return f"CASE WHEN {valid} THEN ({iso})::timestamptz END"


def _amount_value(text: str, fmt: SettlementFormat) -> str:
    # Unbounded repeats and a length check: PostgreSQL's regular expressions are slow with bounded ones ({1,18}).
    if fmt.amounts == "minor":
        return f"CASE WHEN {text} ~ '^-?[0-9]+$' AND length(ltrim({text}, '-')) <= 18 THEN {text}::bigint END"
    return (
        f"CASE WHEN exponent IS NOT NULL AND {text} ~ '^-?[0-9]+([.][0-9]+)?$'"
        f" AND length(split_part(ltrim({text}, '-'), '.', 1)) <= 15 AND length(split_part({text}, '.', 2)) <= exponent"
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


def _load_sql(fmt: SettlementFormat) -> tuple[str, str]:
    """The statement staging the good lines, and the one keeping the others with their reason."""
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
    amount = {name: _amount_value(f"{name}_s", fmt) for name in ("gross", "fee", "net")}
    fee = amount["fee"] if fmt.column_of("fee") else "0::bigint"
    net = amount["net"] if fmt.column_of("net") else "NULL::bigint"
    settlement_date = (
        _date_value("settlement_date_s", date_pattern) if fmt.column_of("settlement_date") else "%(day)s::date"
    )
    cells = f"""
        SELECT s.n, s.n = %(last)s AS last, COALESCE(cardinality(s.f), 0) AS width, {texts}, {line_type} AS line_type
        FROM split s
    """  # noqa: S608 - generated from the format, every file value a column
    converted = f"""
        SELECT c.*, cur.code AS currency, {amount["gross"]} AS gross, {fee} AS fee, {net} AS net_given,
               {settlement_date} AS settlement_date,
               {_timestamp_value("transaction_date_s", timestamp_pattern, fmt.timezone)} AS transaction_date
        FROM ({cells}) c LEFT JOIN cur ON cur.file_code = c.currency_s
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
    common = f"""
        WITH cur AS (
            SELECT * FROM unnest(%(codes)s::text[], %(codes_out)s::text[], %(exponents)s::int[])
                AS u(file_code, code, exponent)
        ),
        -- The split MATERIALIZED, so done once a line: inlined, the planner copies it into every use of a field.
        split AS MATERIALIZED (SELECT r.n, {_split(fmt)} AS f FROM {RAW} r WHERE r.n > %(first)s {{only}}),
        converted AS MATERIALIZED ({converted}),
        checked AS (SELECT v.*, {error} AS error, {fatal} AS fatal FROM converted v)
    """  # noqa: S608 - generated from the format and our table names; every value is a parameter
    # The good lines in one pass; only when some are missing, a second pass over those finds why (a bad line is rare,
    # and keeping every line's reasons for a second scan would cost each load a copy of the file).
    insert_good = f"""
        INSERT INTO {staged} (file_id, connector, line_number, batch_id, settlement_date, type, provider_reference,
                              our_reference, rrn, currency, gross, fee, net, transaction_date,
                              original_provider_reference)
        SELECT %(file)s, %(connector)s, n, COALESCE(batch_id_s, ''), settlement_date, line_type, provider_reference_s,
               COALESCE(our_reference_s, ''), COALESCE(rrn_s, ''), currency, gross, fee, gross - fee,
               transaction_date, COALESCE(original_provider_reference_s, '')
        FROM checked WHERE error IS NULL
    """  # noqa: S608 - our table names
    insert_bad = f"""
        INSERT INTO {invalid} (file_id, line_number, reason, fatal)
        SELECT %(file)s, n, left(error, 500), fatal IS TRUE FROM checked WHERE error IS NOT NULL
    """  # noqa: S608 - our table names
    unstaged = f"AND NOT EXISTS (SELECT 1 FROM {staged} s WHERE s.file_id = %(file)s AND s.line_number = r.n)"  # noqa: S608 - our table names
    good = common.replace("{only}", "") + insert_good
    bad = common.replace("{only}", unstaged) + insert_bad
    return good, bad


TYPED = "recon_typed"
_SQL_TYPES = {"amount": "bigint", "date": "date", "timestamp": "timestamptz"}


def _file_codes(fmt: SettlementFormat, codes: list[str]) -> list[str]:
    """Our currency codes (lower-case ISO 4217) as the format's file writes them."""
    return [code.upper() if fmt.currency_case == "upper" else code for code in codes]


def natively_typed(fmt: SettlementFormat) -> bool:
    """Whether PostgreSQL's own input functions read this format's values exactly as it describes them: ISO dates,
    ISO timestamps with their offset, integer amounts. Then COPY converts them, in C, as the baseline's does."""
    return (
        fmt.amounts == "minor"
        and fmt.date_format == "YYYY-MM-DD"
        and fmt.timestamp_format.startswith("YYYY-MM-DDTHH:MI:SS")
        and fmt.timestamp_pattern().offset
    )


def load_typed(
    *, source: IO[bytes], file_id: int, connector: str, settlement_date: date, fmt: SettlementFormat
) -> int | None:
    """The fast path for a clean file of a natively typed format: COPY splits the lines (in C, quotes and all) into
    text columns, and one INSERT … SELECT casts and checks them, with nothing computed beyond the casts and a few
    comparisons a line.

    Returns the lines staged, or None when the file is not clean (COPY or a cast refused a value, or a line failed a
    check, which stops the load there: migration 0008's ``reconciliation_not_clean``): the caller rolls this back and
    loads the file by :func:`load_described`, which says why for every line.
    The guards keep out what PostgreSQL's input functions would accept but the format does not: words such as
    ``now`` or ``today``, a missing offset, signs and spaces around amounts.
    """
    columns = ", ".join(f"c{position} text" for position in range(1, len(fmt.columns) + 1))

    def col(field: str, default: str = "''") -> str:
        position = fmt.column_of(field)
        return default if position is None else f"v.c{position}"

    def cast(field: str, sql_type: str) -> str:
        position = fmt.column_of(field)
        return f"NULL::{sql_type}" if position is None else f"t.c{position}::{sql_type}"

    words = fmt.provider_word()
    line_type = "CASE " + cast("type", "text") + "".join(f" WHEN {_lit(w)} THEN {_lit(t)}" for w, t in words.items())
    # Each value converted once, in a subquery the planner keeps (OFFSET 0), and the checks read the results: written
    # inline, every use of a cast or of the line type's CASE in a check was evaluated again.
    typed = f"""
        SELECT t.*, {line_type} END AS line_type, {cast("gross", "bigint")} AS gross, {cast("fee", "bigint")} AS fee,
               {cast("net", "bigint")} AS net, {cast("transaction_date", "timestamptz")} AS stamp
        FROM {TYPED} t OFFSET 0
    """  # noqa: S608 - generated from the format and our table name
    fee = "v.fee" if fmt.column_of("fee") else "0::bigint"
    stamp = col("transaction_date")
    positive = ", ".join(_lit(t) for t, sign in _SIGN.items() if sign > 0)
    negative = ", ".join(_lit(t) for t, sign in _SIGN.items() if sign < 0)
    # Cheap sufficient conditions: a value they pass is what the format means; one they do not (an amount with a
    # leading zero, a name longer in bytes than its limit in characters) is not necessarily bad, only not clean, and
    # the described load decides. Measured at 1M lines, each replaced a check that cost 2-3 times as much: an amount
    # read back as the same text instead of a regular expression, byte lengths instead of characters, the day as
    # text, the hour and second that PostgreSQL accepts but the format does not by pattern instead of by cast.
    checks = [
        "v.line_type IS NOT NULL",
        # A hashed membership test, not a join to the codes: the copied table has no statistics, and as a join the
        # planner looped over the 165 codes for every line (164 million comparisons, 40 s of a million-line import).
        f"{col('currency')} = ANY (%(codes)s::text[])",
        *(f"v.{name}::text = {col(name)}" for name in ("gross", "fee", "net") if fmt.column_of(name)),
        f"{stamp} LIKE '____-__-__T__:__:__%%' AND {stamp} NOT LIKE '%% %%'",
        # PostgreSQL reads 24:00:00 (the next midnight) and a leap second (:60); the format does not.
        f"{stamp} NOT LIKE '___________24%%' AND {stamp} NOT LIKE '_________________60%%'",
        f"({stamp} LIKE '%%Z' OR {stamp} LIKE '%%+__:__' OR {stamp} LIKE '%%-__:__'"
        f" OR {stamp} LIKE '%%+____' OR {stamp} LIKE '%%-____')",
        f"CASE WHEN v.line_type IN ({positive}) THEN v.gross > 0 WHEN v.line_type IN ({negative}) THEN v.gross < 0"
        " ELSE v.gross = 0 END",
        f"{col('provider_reference')} <> ''",
    ]
    if fmt.column_of("net"):
        checks.append(f"v.net = v.gross - {fee}")
    if fmt.column_of("batch_id"):
        checks.append(f"{col('batch_id')} <> ''")
    if fmt.column_of("settlement_date"):
        checks.append(f"{col('settlement_date')} = %(day)s")
    checks += [f"octet_length({col(name)}) <= {limit}" for name, limit in TEXT_LIMITS.items() if fmt.column_of(name)]
    staged = SettlementLine._meta.db_table
    insert = f"""
        INSERT INTO {staged} (file_id, connector, line_number, batch_id, settlement_date, type, provider_reference,
                              our_reference, rrn, currency, gross, fee, net, transaction_date,
                              original_provider_reference)
        SELECT %(file)s, %(connector)s, v.n + %(first)s, COALESCE({col("batch_id")}, ''), %(day)s::date,
               v.line_type, {col("provider_reference")}, COALESCE({col("our_reference")}, ''),
               COALESCE({col("rrn")}, ''), lower({col("currency")}), v.gross, {fee}, v.gross - {fee},
               v.stamp, COALESCE({col("original_provider_reference")}, '')
        FROM ({typed}) v
        -- The first line the checks do not pass (false or unknown) stops the load: the rest would be rolled back.
        WHERE CASE WHEN {" AND ".join(checks)} THEN TRUE ELSE reconciliation_not_clean(v.n) END
    """  # noqa: S608 - generated from the format and our table names; every value is a parameter
    params: dict[str, Any] = {
        "codes": _file_codes(fmt, currency_codes()),
        "day": settlement_date.isoformat(),
        "file": file_id,
        "connector": connector,
        "first": 1 if fmt.header else 0,
    }
    names = ", ".join(f"c{position}" for position in range(1, len(fmt.columns) + 1))
    # An empty field is empty text, as in the described load (CSV COPY would read it as NULL).
    options = (
        f"FORMAT csv, DELIMITER {_lit(fmt.delimiter)}, QUOTE {_lit(fmt.quote)}, HEADER {str(fmt.header).lower()},"
        f" FORCE_NOT_NULL ({names})"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TYPED}")
        cursor.execute(f"CREATE TEMP TABLE {TYPED} (n bigint GENERATED ALWAYS AS IDENTITY, {columns}) ON COMMIT DROP")
        raw = cursor.cursor
        try:
            with raw.copy(f"COPY {TYPED} ({names}) FROM STDIN WITH ({options})") as copy:
                while chunk := source.read(_COPY_CHUNK):
                    copy.write(chunk)
            copied = int(raw.rowcount)
            raw.execute(insert, params)
        except (psycopg.errors.DataError, psycopg.errors.BadCopyFileFormat):
            return None  # a line or a value it cannot read: the described load will say which and why
        return copied if int(raw.rowcount) == copied else None


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
        "codes": _file_codes(fmt, codes),
        "codes_out": codes,
        "exponents": [currency_exponent(code) for code in codes],
        "day": settlement_date.isoformat(),
        "file": file_id,
        "connector": connector,
        "first": 1 if fmt.header else 0,
        "last": lines,
        "unterminated": unterminated,
    }
    good, bad = _load_sql(fmt)
    with connection.cursor() as cursor:
        cursor.execute(good, params)
        staged, invalid = max(int(cursor.rowcount), 0), 0
        cursor.execute(f"SELECT COUNT(*) FROM {RAW} WHERE n > %(first)s", params)  # noqa: S608 - fixed name
        if staged < cursor.fetchone()[0]:
            cursor.execute(bad, params)
            invalid = max(int(cursor.rowcount), 0)
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
