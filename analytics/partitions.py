# ruff: noqa: S608 - SQL text is built only from our own table, partition and column names and month starts.
"""Monthly partitions of the event table on PostgreSQL (SQLite keeps one plain table).

`analytics_event` is range-partitioned on `timestamp` by UTC calendar month
(`analytics_event_p2026_12` holds December 2026) with a default partition,
`analytics_event_default`, that catches any row whose month has no partition
yet (a back-filled old event, a month the upkeep has not reached). PostgreSQL
wants the partition key in the primary key, so the constraint is
PRIMARY KEY (id, timestamp); Django keeps `id` as the model's primary key: the
ids come from one sequence, so they stay unique although only (id, timestamp)
is enforced.

`ensure_partitions` (daily beat job and `manage.py event_partitions`) creates
the coming months and moves rows out of the default partition into their
month's own partition. `delete_events_before` is the retention clean-up: it
drops the partitions wholly older than the cut-off and deletes rows only from
the one that straddles it (and from the default partition).

The conversion of an existing table (`partition_table`) and back
(`unpartition_table`) run in migration `analytics.0008` and in its tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from analytics import queries
from analytics.models import Event

TABLE = "analytics_event"
DEFAULT_PARTITION = f"{TABLE}_default"
# The current month and this many after it always have their own partition.
MONTHS_AHEAD = 2
# Rows deleted per statement from a partition that straddles the cut-off.
DELETE_BATCH = 10_000


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(month: datetime, months: int) -> datetime:
    index = month.year * 12 + month.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"{TABLE}_p{month.year:04d}_{month.month:02d}"


def is_partitioned() -> bool:
    """True on PostgreSQL once migration analytics.0008 has run."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partitions() -> list[Partition]:
    """The monthly partitions, oldest first (the default partition is not listed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        if bound == "DEFAULT":
            continue
        # FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00'), with the offset
        # of the session's time zone.
        start, end = (datetime.fromisoformat(text) for text in bound.split("'")[1:4:2])
        found.append(Partition(name, start.astimezone(UTC), end.astimezone(UTC)))
    return sorted(found, key=lambda p: p.start)


def _bound(moment: datetime) -> str:
    # DDL takes no query parameters; the moment is one of ours (a month start), not input.
    return f"'{moment.isoformat()}'"


def _checks_now(cursor: CursorWrapper) -> None:
    # PostgreSQL refuses to alter or drop a table while foreign key checks of
    # rows written earlier in the transaction wait for the commit; they run now
    # instead (for the rest of the caller's transaction).
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _columns(cursor: CursorWrapper, table: str) -> str:
    cursor.execute(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    return cursor.fetchone()[0]


def _add_month(cursor: CursorWrapper, month: datetime) -> int:
    """Create the month's partition, moving in the rows the default partition holds for it."""
    name, end = partition_name(month), add_months(month, 1)
    columns = _columns(cursor, TABLE)
    cursor.execute(f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS)')
    cursor.execute(
        f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE "timestamp" >= %s AND "timestamp" < %s '
        f'RETURNING {columns}) INSERT INTO "{name}" ({columns}) SELECT {columns} FROM moved',
        [month, end],
    )
    moved = cursor.rowcount
    # Attaching builds the partitioned indexes' and the key's copies on the new table.
    cursor.execute(
        f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" FOR VALUES FROM ({_bound(month)}) TO ({_bound(end)})'
    )
    return moved


def _months_in(cursor: CursorWrapper, table: str) -> set[datetime]:
    cursor.execute(f"SELECT DISTINCT date_trunc('month', \"timestamp\", 'UTC') FROM \"{table}\"")
    return {month_start(row[0]) for row in cursor.fetchall()}


def ensure_partitions(*, now: datetime | None = None, months_ahead: int = MONTHS_AHEAD) -> dict[str, Any]:
    """Create this month's and the next `months_ahead` months' partitions, and a
    partition for every month the default partition holds rows of (moving them in).

    Returns the partitions created and the rows moved; nothing to do on SQLite.
    """
    if not is_partitioned():
        return {"created": [], "moved": 0}
    first = month_start(now or timezone.now())
    created: list[str] = []
    moved = 0
    with transaction.atomic(), connection.cursor() as cursor:
        _checks_now(cursor)
        # Inserts that would land in the default partition wait for the move
        # (inserts into existing partitions do not); a row arriving between the
        # move and the ATTACH would otherwise make the ATTACH fail. A second
        # upkeep run waits here too, then sees the partitions the first made.
        cursor.execute(f'LOCK TABLE "{DEFAULT_PARTITION}" IN EXCLUSIVE MODE')
        existing = {p.start for p in partitions()}
        wanted = {add_months(first, n) for n in range(months_ahead + 1)} | _months_in(cursor, DEFAULT_PARTITION)
        for month in sorted(wanted - existing):
            moved += _add_month(cursor, month)
            created.append(partition_name(month))
    return {"created": created, "moved": moved}


def delete_events_before(cutoff: datetime) -> dict[str, int]:
    """Delete raw events older than `cutoff`: whole partitions are dropped, and
    only the rows of the partition straddling the cut-off (and of the default
    partition) are deleted. On SQLite (or an unpartitioned table) every row is
    deleted by statement in batches."""
    dropped = dropped_rows = 0
    if is_partitioned():
        with transaction.atomic(), connection.cursor() as cursor:
            _checks_now(cursor)
            for part in partitions():
                if part.end > cutoff:
                    break
                cursor.execute(f'SELECT count(*) FROM "{part.name}"')
                dropped_rows += cursor.fetchone()[0]
                # Takes a brief exclusive lock on the parent: inserts wait for it.
                cursor.execute(f'DROP TABLE "{part.name}"')
                dropped += 1
    deleted = 0
    while True:
        # Partition pruning: only the straddling partition and the default are read.
        ids = list(Event.objects.filter(timestamp__lt=cutoff).values_list("id", flat=True)[:DELETE_BATCH])
        if not ids:
            break
        deleted += Event.objects.filter(timestamp__lt=cutoff, id__in=ids).delete()[0]
    if dropped_rows or deleted:
        # A cached funnel must not go on counting the deleted events.
        queries.forget_funnels()
    return {"events_deleted": dropped_rows + deleted, "partitions_dropped": dropped}


# --- Converting the table (migration analytics.0008) ----------------------------------


def _drop_definitions(cursor: CursorWrapper, table: str) -> tuple[str, list[str], list[str]]:
    """Drops the table's indexes but the primary key, and returns the key's
    name, the CREATE INDEX statements of the dropped indexes and the ADD
    CONSTRAINT statements of the other constraints (foreign keys, checks), to
    build them again on the new table once its rows are in (faster than
    maintaining them row by row)."""
    cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'p'", [table])
    pkey = cursor.fetchone()[0]
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = to_regclass(%s) AND NOT i.indisprimary ORDER BY 1",
        [table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND contype IN ('f', 'c') ORDER BY conname",
        [table],
    )
    constraints = [f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}' for name, definition in cursor]
    # A partitioned table's index is defined "ON ONLY" the parent; a plain one's is not.
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")  # regclass text: quoted where needed
    return pkey, [d.replace(" ON ONLY ", " ON ") for _, d in indexes], constraints


def _next_id(cursor: CursorWrapper, table: str) -> int:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # a regclass name, quoted by PostgreSQL
    last, called = cursor.fetchone()
    cursor.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"')
    return max(last + 1 if called else last, cursor.fetchone()[0] + 1)


def partition_table(cursor: CursorWrapper, *, now: datetime | None = None) -> None:
    """Turn the plain event table into the partitioned one, rows, indexes,
    constraints and id sequence included (inside the caller's transaction)."""
    old = f"{TABLE}_unpartitioned"
    _checks_now(cursor)
    next_id = _next_id(cursor, TABLE)
    months = _months_in(cursor, TABLE)
    pkey, indexes, constraints = _drop_definitions(cursor, TABLE)
    cursor.execute(f'ALTER TABLE "{TABLE}" RENAME TO "{old}"')
    cursor.execute(f'ALTER TABLE "{old}" RENAME CONSTRAINT "{pkey}" TO "{old}_pkey"')
    # LIKE copies columns in order with NOT NULL, but not the identity: id gets a sequence below.
    cursor.execute(f'CREATE TABLE "{TABLE}" (LIKE "{old}" INCLUDING DEFAULTS) PARTITION BY RANGE ("timestamp")')
    cursor.execute(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{pkey}" PRIMARY KEY (id, "timestamp")')
    cursor.execute(f'CREATE TABLE "{DEFAULT_PARTITION}" PARTITION OF "{TABLE}" DEFAULT')
    first = month_start(now or timezone.now())
    for month in sorted(months | {add_months(first, n) for n in range(MONTHS_AHEAD + 1)}):
        cursor.execute(
            f'CREATE TABLE "{partition_name(month)}" PARTITION OF "{TABLE}" '
            f"FOR VALUES FROM ({_bound(month)}) TO ({_bound(add_months(month, 1))})"
        )
    columns = _columns(cursor, TABLE)
    cursor.execute(f'INSERT INTO "{TABLE}" ({columns}) SELECT {columns} FROM "{old}"')
    cursor.execute(f'DROP TABLE "{old}"')  # and its identity sequence
    cursor.execute(f'CREATE SEQUENCE "{TABLE}_id_seq" OWNED BY "{TABLE}".id START WITH {int(next_id)}')
    cursor.execute(f'ALTER TABLE "{TABLE}" ALTER COLUMN id SET DEFAULT nextval(\'"{TABLE}_id_seq"\')')
    for statement in indexes + constraints:
        cursor.execute(statement)
    cursor.execute(f'ANALYZE "{TABLE}"')


def unpartition_table(cursor: CursorWrapper) -> None:
    """The reverse of `partition_table`: one plain table with an identity id again."""
    old = f"{TABLE}_partitioned"
    _checks_now(cursor)
    next_id = _next_id(cursor, TABLE)
    pkey, indexes, constraints = _drop_definitions(cursor, TABLE)
    cursor.execute(f'ALTER TABLE "{TABLE}" RENAME TO "{old}"')
    cursor.execute(f'ALTER TABLE "{old}" RENAME CONSTRAINT "{pkey}" TO "{old}_pkey"')
    cursor.execute(f'CREATE TABLE "{TABLE}" (LIKE "{old}")')
    cursor.execute(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{pkey}" PRIMARY KEY (id)')
    columns = _columns(cursor, TABLE)
    cursor.execute(f'INSERT INTO "{TABLE}" ({columns}) SELECT {columns} FROM "{old}"')
    cursor.execute(f'DROP TABLE "{old}"')  # its partitions and sequence with it
    cursor.execute(f'ALTER TABLE "{TABLE}" ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (START WITH {next_id})')
    for statement in indexes + constraints:
        cursor.execute(statement)
    cursor.execute(f'ANALYZE "{TABLE}"')
