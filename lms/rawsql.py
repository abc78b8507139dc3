"""Model instances from hand-written SQL, converted as the ORM converts them.

The study loop and token authentication run a few statements by primary key
on every request. Compiling each through the ORM costs the worker more CPU
than PostgreSQL spends running it (issue #15), so those few statements are
written out once here; the rows still become ordinary model instances with
the ORM's own column converters (JSON, SQLite's dates), so the code that reads
them cannot tell.

    sql = f"SELECT {columns(Deck, 'd')} FROM {table(Deck)} d WHERE d.id = %s"
    row = fetch_one(sql, [pk])
    deck = build(Deck, row)
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field, Model
from django.db.models.signals import ModelSignal, post_save, pre_save

M = TypeVar("M", bound=Model)

# Per connection (thread), per model: the attribute names and each column's
# converters, as the ORM's compiler would apply them.
Layout = tuple[list[str], list[tuple[Any, list[Callable]]]]
_layouts: weakref.WeakKeyDictionary[Any, dict[type[Model], Layout]] = weakref.WeakKeyDictionary()
_converters: weakref.WeakKeyDictionary[Any, dict[Field, tuple[Any, list[Callable]]]] = weakref.WeakKeyDictionary()


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def columns(model: type[Model], alias: str) -> str:
    """The select list of every concrete column of `model`, in field order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


def width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)


def _layout(model: type[Model]) -> Layout:
    per_model = _layouts.setdefault(connections[DEFAULT_DB_ALIAS], {})  # this thread's connection
    if model not in per_model:
        names, converters = [], []
        for field in model._meta.concrete_fields:
            col = field.get_col(model._meta.db_table)
            names.append(field.attname)
            converters.append((col, [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]))
        per_model[model] = (names, converters)
    return per_model[model]


def build(model: type[M], row: Sequence[Any], start: int = 0) -> M:
    """The instance of `model` whose columns (as `columns` lists them) begin at `start` in `row`."""
    names, converters = _layout(model)
    values = list(row[start : start + len(names)])
    for i, (col, chain) in enumerate(converters):
        if chain:
            for convert in chain:
                values[i] = convert(values[i], col, connection)
    return model.from_db(connection.alias, names, values)


def convert(fields: Sequence[Field], values: Sequence[Any]) -> list[Any]:
    """Column values of `fields` (of any models) converted as the ORM would."""
    per_field = _converters.setdefault(connections[DEFAULT_DB_ALIAS], {})
    out = []
    for field, value in zip(fields, values, strict=True):
        if field not in per_field:
            col = field.get_col(field.model._meta.db_table)
            per_field[field] = (col, [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)])
        col, chain = per_field[field]
        for convert_one in chain:
            value = convert_one(value, col, connection)
        out.append(value)
    return out


# --- Prepared statements (PostgreSQL) ---------------------------------------------
#
# Parsing and planning were about half of PostgreSQL's CPU for an answer
# (docs/performance.md). The statements run through `fetch_one` and
# `fetch_all` are therefore sent with server-side binding and prepared on
# each connection the first time it runs them, then run by name. Only these:
# they look rows up by primary key or by a student's own keys, so one plan
# fits every value, and their parameters are few. Every other statement keeps
# Django's client-side binding: a plan made for its own values (analytics
# over date ranges above all), and no limit on its parameters (the protocol
# carries at most 65,535, which an `__in` of a big import's ids would pass).
# DB_PREPARED_STATEMENTS=0 turns this off (settings).
_MAX_BOUND_PARAMS = 10_000


@functools.cache
def _preparing_cursor(alias: str, vendor: str) -> type:
    """Django's server-side-binding cursor, counted by django-prometheus like
    the connection's own, which prepares every statement it runs. psycopg
    keeps the last 100 of a connection; a pooler in transaction mode must
    support prepared statements (PgBouncer 1.21+, `max_prepared_statements`)."""
    from django.db.backends.postgresql.base import ServerBindingCursor
    from django_prometheus.db.common import ExportingCursorWrapper

    class PreparingCursor(ExportingCursorWrapper(ServerBindingCursor, alias, vendor)):  # type: ignore[misc]
        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, **kwargs: Any) -> Any:
            return super().execute(query, params, prepare=True if prepare is None else prepare, **kwargs)

    return PreparingCursor


def _cursor(params: Sequence[Any]) -> Any:
    """`connection.cursor()`; on PostgreSQL with prepared statements on, one
    that prepares what it runs (psycopg makes a connection's cursors with its
    `cursor_factory`, swapped for this one cursor). Not while queries are
    logged (DEBUG, the tests' query counts): the log shows a statement with
    its values, which psycopg does not keep for one run by name."""
    if (
        connection.vendor != "postgresql"
        or not settings.DB_PREPARED_STATEMENTS
        or len(params) > _MAX_BOUND_PARAMS
        or connection.queries_logged
    ):
        return connection.cursor()
    connection.ensure_connection()
    raw = connection.connection
    factory = raw.cursor_factory
    raw.cursor_factory = _preparing_cursor(connection.alias, connection.vendor)
    try:
        return connection.cursor()
    finally:
        raw.cursor_factory = factory


def fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with _cursor(params) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def fetch_all(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with _cursor(params) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@functools.cache
def _insert_sql(model: type[Model]) -> str:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    return (
        f"INSERT INTO {table(model)} ({', '.join(quote(f.column) for f in fields)})"  # noqa: S608 - names are ours
        f" VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(model._meta.pk.column)}"
    )


def _send(signal: ModelSignal, obj: Model, **kwargs: Any) -> None:
    # save()'s signals, for whoever listens (class progress follows the review
    # rows): the check is a dictionary lookup when nobody does.
    if signal.has_listeners(type(obj)):
        signal.send(sender=type(obj), instance=obj, raw=False, using=connection.alias, **kwargs)


def insert(obj: Model) -> None:
    """`obj.save(force_insert=True)` for a model with an automatic id: one
    written-out INSERT … RETURNING id (PostgreSQL, SQLite 3.35+), values
    prepared by the fields as save() does, with save()'s pre_save and
    post_save signals."""
    model = type(obj)
    _send(pre_save, obj, update_fields=None)
    params = [
        f.get_db_prep_save(f.pre_save(obj, True), connection) for f in model._meta.concrete_fields if not f.primary_key
    ]
    obj.pk = fetch_one(_insert_sql(model), params)[0]  # type: ignore[index]
    obj._state.adding, obj._state.db = False, connection.alias
    _send(post_save, obj, created=True, update_fields=None)


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...]) -> str:
    fields = [model._meta.get_field(name) for name in names]
    return (
        f"UPDATE {table(model)} SET {', '.join(f'{quote(f.column)} = %s' for f in fields)}"  # noqa: S608 - names are ours
        f" WHERE {quote(model._meta.pk.column)} = %s"
    )


def update(obj: Model, names: Sequence[str]) -> None:
    """`obj.save(update_fields=names)` as one written-out UPDATE by primary key,
    with save()'s pre_save and post_save signals."""
    _send(pre_save, obj, update_fields=frozenset(names))
    fields = [type(obj)._meta.get_field(name) for name in names]
    params = [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(type(obj), tuple(names)), [*params, obj.pk])
    _send(post_save, obj, created=False, update_fields=frozenset(names))


def datetime_param(value: datetime) -> Any:
    """A datetime as the database's column compares with it (SQLite stores text)."""
    return connection.ops.adapt_datetimefield_value(value)


def for_update() -> str:
    """Row lock suffix where the database has row locks (SQLite locks the whole file on write)."""
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


@functools.cache
def _together_sql(
    inserts: tuple[type[Model], ...],
    updates: tuple[tuple[type[Model], tuple[str, ...]], ...],
    links: tuple[tuple[tuple[int, str], int], ...],
) -> tuple[str, list[list[Field]], list[list[Field]]]:
    """`write_together`'s statement for one shape of writes (the models
    inserted, the models and fields updated, which updated foreign keys take an
    inserted row's id), written once: with the fields whose prepared values
    are its parameters, per insert and per update (each update's followed by
    its primary key)."""
    linked = dict(links)
    parts: list[str] = []
    insert_fields = []
    for i, model in enumerate(inserts):
        insert_fields.append([f for f in model._meta.concrete_fields if not f.primary_key])
        parts.append(f"i{i} AS ({_insert_sql(model)})")
    update_fields = []
    for j, (model, names) in enumerate(updates):
        meta = model._meta
        sets, fields = [], []
        for name in names:
            field = meta.get_field(name)
            if (j, name) in linked:
                inserted = inserts[linked[j, name]]._meta.pk.column
                sets.append(f"{quote(field.column)} = (SELECT {quote(inserted)} FROM i{linked[j, name]})")  # noqa: S608
            else:
                sets.append(f"{quote(field.column)} = %s")
                fields.append(field)
        update_fields.append(fields)
        parts.append(
            f"u{j} AS (UPDATE {table(model)} SET {', '.join(sets)}"  # noqa: S608 - names are ours
            f" WHERE {quote(meta.pk.column)} = %s RETURNING 1)"
        )
    ids = ", ".join(f"(SELECT {quote(model._meta.pk.column)} FROM i{i})" for i, model in enumerate(inserts))  # noqa: S608
    return f"WITH {', '.join(parts)} SELECT {ids or '1'}", insert_fields, update_fields


def write_together(*, inserts: Sequence[Model] = (), updates: Sequence[tuple[Model, Sequence[str]]] = ()) -> None:
    """`insert(obj)` for each of `inserts`, then `update(obj, names)` for each
    of `updates`, as one statement on PostgreSQL: data-modifying CTEs, one
    round trip instead of one per row (an answer writes the card's state, its
    review and the session together). A foreign key of an updated row that
    points at one of `inserts` (assigned as the instance, not yet saved) takes
    that row's new id inside the statement. save()'s pre_save signals are sent
    before it and post_save after it. Elsewhere, the statements one by one."""
    targets = {id(obj): i for i, obj in enumerate(inserts)}
    links: dict[tuple[int, str], int] = {}  # (update, field name) -> the insert it points at
    for j, (obj, names) in enumerate(updates):
        for name in names:
            field = type(obj)._meta.get_field(name)
            if field.is_relation and field.is_cached(obj):
                target = field.get_cached_value(obj)
                if target is not None and target.pk is None and id(target) in targets:
                    links[j, name] = targets[id(target)]

    def link(j: int, obj: Model, names: Sequence[str]) -> None:
        for name in names:
            if (j, name) in links:
                setattr(obj, type(obj)._meta.get_field(name).attname, inserts[links[j, name]].pk)

    if connection.vendor != "postgresql":
        for obj in inserts:
            insert(obj)
        for j, (obj, names) in enumerate(updates):
            link(j, obj, names)
            update(obj, names)
        return
    for obj in inserts:
        _send(pre_save, obj, update_fields=None)
    for obj, names in updates:
        _send(pre_save, obj, update_fields=frozenset(names))
    shape = (
        tuple(type(obj) for obj in inserts),
        tuple((type(obj), tuple(names)) for obj, names in updates),
        tuple(sorted(links.items())),
    )
    sql, insert_fields, update_fields = _together_sql(*shape)
    params: list[Any] = []
    for obj, fields in zip(inserts, insert_fields, strict=True):
        params += [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    for (obj, _), fields in zip(updates, update_fields, strict=True):
        params += [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in fields]
        params.append(obj.pk)
    row = fetch_one(sql, params)
    for obj, pk in zip(inserts, row or (), strict=False):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, connection.alias
    for j, (obj, names) in enumerate(updates):
        link(j, obj, names)
    for obj in inserts:
        _send(post_save, obj, created=True, update_fields=None)
    for obj, names in updates:
        _send(post_save, obj, created=False, update_fields=frozenset(names))
