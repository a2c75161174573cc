"""Database helpers every app may use: row locks that degrade gracefully on SQLite (the embedded shape's
database), and deletes in bounded chunks.

SQLite has no row locks, but the embedded settings open every transaction ``IMMEDIATE``, which takes the
database's single write lock at ``BEGIN``: writers are serialised, which is the exclusivity a lock would give.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from django.db import connection
from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, ServerBindingCursor
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import (
    AutoField,
    BigAutoField,
    BigIntegerField,
    BinaryField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    EmailField,
    Field,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    PositiveIntegerField,
    PositiveSmallIntegerField,
    QuerySet,
    SmallIntegerField,
    TextField,
    signals,
)
from django.db.models.base import ModelState
from django.db.models.expressions import DatabaseDefault
from psycopg.pq import Format

M = TypeVar("M", bound=Model)


def lock_rows(queryset: QuerySet[M, Any]) -> QuerySet[M, Any]:
    """``SELECT … FOR UPDATE`` where the database has row locks."""
    return queryset.select_for_update() if connection.features.has_select_for_update else queryset


def skip_locked(queryset: QuerySet[M, Any]) -> QuerySet[M, Any]:
    """``FOR UPDATE SKIP LOCKED`` where supported, so concurrent claimers take disjoint rows instead of queueing."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return lock_rows(queryset)


def delete_in_chunks(queryset: QuerySet[M, Any], *, chunk: int = 1000) -> int:
    """Deletes what ``queryset`` matches a chunk at a time, so no single statement or transaction grows with the
    backlog (retention jobs); returns how many rows of the queryset's model went."""
    removed = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:chunk])
        if not ids:
            return removed
        queryset.model._default_manager.filter(pk__in=ids).delete()
        removed += len(ids)


# --- new rows built cheaply -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _BuildPlan:
    # Per concrete field: its name, its attname, the callable giving its default, and whether its class attribute is
    # a data descriptor (django-fsm's state field, a foreign key's id), which must see the value set.
    defaults: tuple[tuple[str, str, Any, bool], ...]
    allowed: frozenset[str]


_build_plans: dict[type[Model], _BuildPlan | None] = {}


def _build_plan(model: type[Model]) -> _BuildPlan | None:
    if model in _build_plans:
        return _build_plans[model]
    meta = model._meta
    plan = None
    # Only a model whose construction is Django's own: no __init__ of its own or of a mixin, no virtual fields.
    own_init = any("__init__" in vars(klass) for klass in model.__mro__[: model.__mro__.index(Model)])
    if not own_init and not meta.abstract and not meta.private_fields:
        fields = [f for f in meta.concrete_fields if not f.generated]
        plan = _BuildPlan(
            defaults=tuple(
                (
                    f.name,
                    f.attname,
                    f.get_default,
                    hasattr(type(getattr(model, f.attname, None)), "__set__"),
                )
                for f in fields
            ),
            allowed=frozenset(name for f in fields for name in (f.name, f.attname)) | meta._property_names,  # type: ignore[attr-defined]
        )
    _build_plans[model] = plan
    return plan


def new_row(model: type[M], **values: Any) -> M:
    """``model(**values)``, the same instance, for a new row of the request path: Django's ``Model.__init__`` walks
    every field with the keyword arguments in hand (a payment has 40), which cost a twentieth of a payment's CPU.
    Here each field's default is set directly, then each given value through ``setattr`` as ``__init__`` does it
    (related objects cached by their descriptor, properties run). A model with ``pre_init``/``post_init`` receivers,
    an ``__init__`` of its own or virtual fields is built by Django."""
    plan = _build_plan(model)
    if plan is None or signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return model(**values)
    unexpected = values.keys() - plan.allowed
    if unexpected:
        raise TypeError(f"{model.__name__}() got unexpected keyword arguments: {', '.join(sorted(unexpected))}")
    obj = model.__new__(model)
    obj._state = ModelState()
    stored = obj.__dict__
    for name, attname, default, descriptor in plan.defaults:
        if name in values or attname in values:
            continue
        if descriptor:
            setattr(obj, attname, default())
        else:
            stored[attname] = default()
    for name, value in values.items():
        setattr(obj, name, value)
    return obj


# --- new rows inserted together, in one statement -------------------------------------------------------------
# Field classes whose ``get_db_prep_save`` returns a value of these types unchanged (``str`` subclasses such as
# choices included, ``int`` and ``bool`` exactly, ``None`` for all of them): such a value is sent as it is, which
# saves most of the ORM's per-column work on a hot insert. Other values and field classes go through the field.
_STR, _INT, _BOOL, _NONE, _JSON, _BYTES = 1, 2, 3, 4, 5, 6
_KINDS: dict[type[Field[Any, Any]], int] = {
    CharField: _STR,
    EmailField: _STR,
    TextField: _STR,
    BooleanField: _BOOL,
    BigIntegerField: _INT,
    IntegerField: _INT,
    PositiveIntegerField: _INT,
    PositiveSmallIntegerField: _INT,
    SmallIntegerField: _INT,
    BigAutoField: _INT,
    AutoField: _INT,
    DateTimeField: _NONE,
    DateField: _NONE,
    BinaryField: _BYTES,  # Django wraps bytes in the driver's Binary, which sends them as they are
}


def _kind(field: Field[Any, Any]) -> int:
    if isinstance(field, ForeignKey):
        return _KINDS.get(type(field.target_field), 0)
    if type(field) is JSONField and field.encoder is None:
        # Django sends it as psycopg's Jsonb, which is json.dumps of the value: the same text as embedding it.
        return _JSON
    return 0 if field.is_relation else _KINDS.get(type(field), 0)


class _Unsupported(Exception):
    """A value this path does not know how to send as the ORM would: the ORM inserts the rows instead."""


def _json_value(field: Field[Any, Any], value: Any) -> Any:
    """The value as the ORM would adapt it, as JSON that PostgreSQL reads back into the column's type."""
    if hasattr(value, "resolve_expression"):
        raise TypeError(f"insert_together takes values, not expressions ({field})")
    value = field.get_db_prep_save(value, connection=connection)
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()  # with its offset when aware; microseconds kept
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise _Unsupported(field)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per model, and a statement's cache key
class _InsertShape:
    """What inserting rows of one model costs only once per process: the columns, how each value is read and
    sent, and which columns the database fills in (set back on the instances, as ``save()`` does)."""

    table: str
    fields: tuple[Field[Any, Any], ...]  # the model's columns, in the order the ORM's own insert lists them
    columns: tuple[str, ...]
    pre_save: tuple[bool, ...]  # the field computes its value at save (auto_now …): asked, as the ORM does
    kinds: tuple[int, ...]
    returning: tuple[Field[Any, Any], ...]
    pk_returned: bool


_shapes: dict[tuple[type[Model], bool], _InsertShape | None] = {}


def _insert_shape(model: type[Model], with_pk: bool) -> _InsertShape | None:
    """``None`` for a model this path does not handle (inheritance, ordering, converted returned columns)."""
    key = (model, with_pk)
    if key in _shapes:
        return _shapes[key]
    meta = model._meta
    fields = tuple(f for f in meta.local_concrete_fields if not f.generated and (with_pk or f is not meta.auto_field))
    returning = tuple(meta.db_returning_fields)
    shape = None
    if (
        (with_pk or meta.pk is meta.auto_field)
        and not (meta.proxy or meta.parents or meta.order_with_respect_to)
        and not any(hasattr(f, "from_db_value") for f in returning)
    ):
        shape = _InsertShape(
            table=meta.db_table,
            fields=fields,
            columns=tuple(str(f.column) for f in fields),
            pre_save=tuple(
                bool(getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))
                if isinstance(f, DateField)
                else type(f).pre_save is not Field.pre_save
                for f in fields
            ),
            kinds=tuple(_kind(f) for f in fields),
            returning=returning,
            pk_returned=meta.pk in returning,
        )
    _shapes[key] = shape
    return shape


@dataclass
class _Run:
    """Consecutive new rows of one model with the same columns left to their database default."""

    shape: _InsertShape
    defaults: frozenset[str]  # columns given as DEFAULT (a ``db_default`` with no value of its own)
    objs: list[Model]
    rows: list[dict[str, Any]]


def insert_together(objs: Sequence[Model]) -> None:
    """Inserts new model instances as ``save(force_insert=True)`` would (consecutive ones of one model as one
    multi-row insert, as ``bulk_create`` would) and sets on them what the database filled in (ids, ``db_default``
    columns), as the ORM does.

    On PostgreSQL every row goes in ONE statement: one data-modifying CTE per run of one model, reading its rows
    from one JSON parameter (``jsonb_populate_recordset``), so the statement's text depends on the models only
    (psycopg parses it once per process, where the ORM compiles every column of every row on each insert and
    psycopg re-parses any statement of more than 50 parameters), and values are sent as they are where the field
    would not change them. Elsewhere (the embedded shape's SQLite), for models with save signals and for any value
    this path cannot send as the ORM would, the ORM inserts the rows.

    Foreign keys between the rows hold in any order: Django's constraints are ``DEFERRABLE INITIALLY DEFERRED``,
    checked at commit, and a statement's sub-statements see each other's rows when its own checks run anyway.
    """
    runs: list[_Run] | None = [] if connection.vendor == "postgresql" else None
    try:
        for obj in objs if runs is not None else ():
            _add(runs, obj)  # type: ignore[arg-type]
    except _Unsupported:
        runs = None
    if runs is None:
        _insert_with_orm(objs)
    elif runs:
        _insert_runs(runs)


def _add(runs: list[_Run], obj: Model) -> None:
    model = type(obj)
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        raise _Unsupported(model)
    shape = _insert_shape(model, obj.pk is not None)
    if shape is None:
        raise _Unsupported(model)
    # What save() checks first: no unsaved related object, and a related object's id taken if it got one late.
    obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    row: dict[str, Any] = {}
    defaults: set[str] = set()
    # A new instance holds its columns' values there; Django's own fields' descriptors return them as they are.
    values = obj.__dict__
    for field, column, pre_save, kind in zip(shape.fields, shape.columns, shape.pre_save, shape.kinds, strict=True):
        if pre_save:
            value = field.pre_save(obj, add=True)
        else:
            value = values[field.attname] if kind and field.attname in values else getattr(obj, field.attname)
        if kind == _STR and type(value) is str:  # the usual case first
            row[column] = value
        elif isinstance(value, DatabaseDefault):
            defaults.add(column)
        elif (
            (kind and value is None)
            or (kind == _STR and isinstance(value, str))
            or (kind == _INT and type(value) is int)
            or (kind == _BOOL and type(value) is bool)
            or (kind == _JSON and not hasattr(value, "resolve_expression"))
        ):
            row[column] = value
        elif kind == _BYTES and isinstance(value, bytes | bytearray | memoryview):
            row[column] = "\\x" + bytes(value).hex()  # bytea's hex input
        else:
            row[column] = _json_value(field, value)
    frozen = frozenset(defaults)
    last = runs[-1] if runs else None
    if last is not None and last.shape is shape and last.defaults == frozen:
        last.objs.append(obj)
        last.rows.append(row)
    else:
        runs.append(_Run(shape=shape, defaults=frozen, objs=[obj], rows=[row]))


def _insert_with_orm(objs: Sequence[Model]) -> None:
    at = 0
    while at < len(objs):
        end = at + 1
        while end < len(objs) and type(objs[end]) is type(objs[at]) and (objs[end].pk is None) == (objs[at].pk is None):
            end += 1
        if end - at == 1:
            objs[at].save(force_insert=True)
        else:
            type(objs[at])._default_manager.bulk_create(objs[at:end])
        at = end


_statements: dict[tuple[tuple[_InsertShape, frozenset[str]], ...], str] = {}


def _statement(runs: list[_Run]) -> str:
    """The statement for these runs, made once per process. Only the models' own table and column names, quoted,
    go into its text; every value is the runs' JSON parameters."""
    key = tuple((run.shape, run.defaults) for run in runs)
    sql = _statements.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        ctes: list[str] = []
        selects: list[str] = []
        for number, (shape, defaults) in enumerate(key):
            columns = ", ".join(quote(column) for column in shape.columns if column not in defaults)
            returned = "".join(f"{quote(str(f.column))}, " for f in shape.returning)
            table = quote(shape.table)
            # In the list's order (WITH ORDINALITY): a sequence's ids follow it, as bulk_create's do.
            ctes.append(
                f"i{number} AS (INSERT INTO {table} ({columns}) SELECT {columns}"
                f" FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) WITH ORDINALITY AS r ORDER BY ordinality"
                f" RETURNING {returned}{quote(str(shape.fields[0].model._meta.pk.column))} AS pk)"
            )
            # One array per returned column, in primary-key order: ids from a sequence follow the list's order,
            # and rows that brought their own ids are matched by id.
            for field in shape.returning:
                selects.append(f"(SELECT array_agg({quote(str(field.column))} ORDER BY pk) FROM i{number})")
            if shape.returning and not shape.pk_returned:
                selects.append(f"(SELECT array_agg(pk ORDER BY pk) FROM i{number})")
        sql = f"WITH {', '.join(ctes)} SELECT {', '.join(selects) or 'NULL'}"
        _statements[key] = sql
    return sql


def prepared_cursor() -> CursorWrapper:
    """A cursor for a statement whose text never changes and is sent on every request (the API's write path): its
    parameters are bound on the server, so PostgreSQL parses and plans it once per connection (psycopg prepares
    it from its second use, ``prepare_threshold`` in settings) instead of for every request; the ORM's cursors
    bind on the client and send the whole text each time. Behind a transaction pooler (``DATABASE_POOLED``, no
    ``prepare_threshold``) nothing is prepared, only bound. Django's wrapper all the same: its error classes, its
    execute wrappers and query log (tests count statements through them). Elsewhere, Django's own cursor."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    # As ``connection.cursor()`` does, with the server-binding cursor class Django has for this (and its time zone).
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(connection.connection)  # type: ignore[call-arg]  # psycopg's Cursor(connection)
        tzloader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        if connection.timezone != tzloader.timezone:
            register_tzloader(connection.timezone, raw)
    if connection.queries_logged:  # DEBUG, and tests capturing queries
        return _BoundDebugCursor(raw, connection)
    return CursorWrapper(raw, connection)


class _BoundDebugCursor(CursorDebugWrapper):
    def execute(self, sql: Any, params: Any = None) -> Any:
        # Django logs the text psycopg last sent, and a prepared statement is sent by name: log it with its values.
        with self.debug_sql(connection.ops.compose_sql(sql, params)):  # type: ignore[attr-defined]
            return self._execute_with_wrappers(sql, params, many=False, executor=self._execute)


def _insert_runs(runs: list[_Run]) -> None:
    with prepared_cursor() as cursor:
        cursor.execute(_statement(runs), [json.dumps(run.rows) for run in runs])
        result = cursor.fetchone()
    if result is None:  # a SELECT without FROM returns its one row
        raise RuntimeError("the insert returned no row")
    at = 0
    for run in runs:
        shape = run.shape
        returned_values = result[at : at + len(shape.returning)]
        at += len(shape.returning)
        ordered = run.objs
        if shape.returning and not shape.pk_returned:
            by_pk = {obj.pk: obj for obj in run.objs}
            ordered = [by_pk[pk] for pk in result[at]]
            at += 1
        for field, values in zip(shape.returning, returned_values, strict=True):
            for obj, value in zip(ordered, values, strict=True):
                setattr(obj, field.attname, value)
        for obj in run.objs:
            obj._state.adding = False
            obj._state.db = connection.alias
