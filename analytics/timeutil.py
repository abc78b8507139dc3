"""Day numbers, local-day maps and vendor SQL snippets shared by the queries.

A "day" is an integer: days since 1970-01-01. UTC day numbers key the rollup
tables; local day numbers (in the viewer's time zone) are what people see.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache

from django.db import connection

EPOCH = date(1970, 1, 1)
SLOTS_PER_DAY = 96  # quarter-hours: every real UTC offset is a multiple of 15 minutes
SLOT_SECONDS = 900
HALF = 48


def day_number(value: date) -> int:
    return (value - EPOCH).days


def day_date(number: int) -> date:
    return EPOCH + timedelta(days=number)


def utc_day_of(moment: datetime) -> int:
    return int(moment.timestamp()) // 86400


def day_start_utc(number: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=number)


def local_day_bounds(day: int, tz: tzinfo) -> tuple[datetime, datetime]:
    """The UTC instants at which local day `day` starts and the next one starts."""
    start_date = day_date(day)
    start = datetime(start_date.year, start_date.month, start_date.day, tzinfo=tz)
    nxt = start_date + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def today_local(tz: tzinfo, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    return day_number(now.astimezone(tz).date())


def zone(name: str | None) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


@lru_cache(maxsize=64)
def local_day_map(first_utc_day: int, last_utc_day: int, tz: tzinfo) -> tuple[tuple[int, int, int, int], ...]:
    """For each UTC day, the local days its quarter-hours fall on, as
    (utc_day, local_day, bits_am, bits_pm): at most two rows per UTC day."""
    rows: list[tuple[int, int, int, int]] = []
    for utc_day in range(first_utc_day, last_utc_day + 1):
        base = utc_day * 86400
        masks: dict[int, list[int]] = {}
        for slot in range(SLOTS_PER_DAY):
            moment = datetime.fromtimestamp(base + slot * SLOT_SECONDS, tz)
            local = day_number(moment.date())
            pair = masks.setdefault(local, [0, 0])
            if slot < HALF:
                pair[0] |= 1 << slot
            else:
                pair[1] |= 1 << (slot - HALF)
        rows.extend((utc_day, local, am, pm) for local, (am, pm) in masks.items())
    return tuple(rows)


def values_cte(name: str, columns: str, rows: Sequence[tuple[int, ...]]) -> str:
    """A CTE of literal integer rows (ours, never user input), valid in PostgreSQL and SQLite."""
    if not rows:
        rows = [tuple(-1 for _ in columns.split(","))]
    body = ", ".join("(" + ", ".join(str(int(v)) for v in row) + ")" for row in rows)
    return f"{name}({columns}) AS (VALUES {body})"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def epoch_seconds_sql(column: str) -> str:
    if is_postgres():
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)"
    return f"CAST(strftime('%%s', {column}) AS INTEGER)"


def epoch_micros_sql(column: str) -> str:
    """Exact microseconds since the epoch; SQLite stores 'YYYY-MM-DD HH:MM:SS[.ffffff]'.

    The SQL is for cursor.execute with a params list, hence '%%' for a literal '%'.
    """
    if is_postgres():
        return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"
    return (
        f"(CAST(strftime('%%s', {column}) AS INTEGER) * 1000000 + "
        f"CASE WHEN length({column}) > 19 THEN CAST(substr({column}, 21, 6) AS INTEGER) ELSE 0 END)"
    )


def json_text_sql(column: str, key: str) -> str:
    """The text of one top-level JSON property (the key is validated by the caller)."""
    if is_postgres():
        return f"({column} ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"
