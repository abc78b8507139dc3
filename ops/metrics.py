"""Request metrics: recorded on the hot path outside the database, flushed
each minute into `RequestMetric` rows, read back per route and window.

Hot path: with `REDIS_URL` set every web process adds to one Redis hash per
minute through a small Lua script (one round trip, atomic); without Redis each
process keeps its own counters in memory and writes them itself once a minute
has closed (the beat job cannot see another process's memory).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ops import histogram

logger = logging.getLogger(__name__)
SEP = "\x1f"  # separates method, route and counter name inside a hash field


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@dataclass
class Aggregate:
    count: int = 0
    client_errors: int = 0
    server_errors: int = 0
    duration_sum_ms: float = 0.0
    duration_min_ms: float | None = None
    duration_max_ms: float | None = None
    histogram: list[int] = field(default_factory=histogram.empty)
    status_codes: dict[str, int] = field(default_factory=dict)

    def add(self, duration_ms: float, status: int) -> None:
        self.count += 1
        if 400 <= status < 500:
            self.client_errors += 1
        elif status >= 500:
            self.server_errors += 1
        self.duration_sum_ms += duration_ms
        self.duration_min_ms = duration_ms if self.duration_min_ms is None else min(self.duration_min_ms, duration_ms)
        self.duration_max_ms = duration_ms if self.duration_max_ms is None else max(self.duration_max_ms, duration_ms)
        self.histogram[histogram.bucket_index(duration_ms)] += 1
        key = str(status)
        self.status_codes[key] = self.status_codes.get(key, 0) + 1


Key = tuple[datetime, str, str]  # (minute, method, route)


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[Key, Aggregate] = {}
        self._last_flush = time.monotonic()

    def record(self, minute: datetime, method: str, route: str, duration_ms: float, status: int) -> None:
        with self._lock:
            self._data.setdefault((minute, method, route), Aggregate()).add(duration_ms, status)

    def drain(self) -> dict[Key, Aggregate]:
        with self._lock:
            data, self._data = self._data, {}
            self._last_flush = time.monotonic()
        return data

    def due_for_flush(self) -> bool:
        return time.monotonic() - self._last_flush >= 60

    def reset(self) -> None:
        self.drain()


_LUA = """
local k, p, d = KEYS[1], ARGV[1], tonumber(ARGV[2])
redis.call('HINCRBY', k, p .. 'c', 1)
if ARGV[4] == '4' then redis.call('HINCRBY', k, p .. '4', 1) end
if ARGV[4] == '5' then redis.call('HINCRBY', k, p .. '5', 1) end
redis.call('HINCRBYFLOAT', k, p .. 's', ARGV[2])
redis.call('HINCRBY', k, p .. 'b' .. ARGV[3], 1)
redis.call('HINCRBY', k, p .. 'x' .. ARGV[5], 1)
local mn = redis.call('HGET', k, p .. 'mn')
if (not mn) or d < tonumber(mn) then redis.call('HSET', k, p .. 'mn', ARGV[2]) end
local mx = redis.call('HGET', k, p .. 'mx')
if (not mx) or d > tonumber(mx) then redis.call('HSET', k, p .. 'mx', ARGV[2]) end
redis.call('EXPIRE', k, 172800)
redis.call('SADD', KEYS[2], ARGV[6])
return 1
"""


class RedisStore:
    def __init__(self, url: str, prefix: str = "ops:metrics") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = prefix
        self._script = self.client.register_script(_LUA)

    def _minutes_key(self) -> str:
        return f"{self.prefix}:minutes"

    def _key(self, stamp: int) -> str:
        return f"{self.prefix}:{stamp}"

    def record(self, minute: datetime, method: str, route: str, duration_ms: float, status: int) -> None:
        stamp = int(minute.timestamp())
        kind = "4" if 400 <= status < 500 else "5" if status >= 500 else ""
        self._script(
            keys=[self._key(stamp), self._minutes_key()],
            args=[
                f"{method}{SEP}{route}{SEP}",
                repr(float(duration_ms)),
                histogram.bucket_index(duration_ms),
                kind,
                status,
                stamp,
            ],
        )

    def drain(self) -> dict[Key, Aggregate]:
        import redis

        data: dict[Key, Aggregate] = {}
        for raw in self.client.smembers(self._minutes_key()):
            stamp = int(raw)
            # Remove the minute from the set before taking its hash away: a
            # request landing in between re-adds it and is flushed next time.
            self.client.srem(self._minutes_key(), raw)
            taken = f"{self._key(stamp)}:flushing:{uuid.uuid4().hex}"
            if not self.client.exists(self._key(stamp)):
                continue
            try:
                self.client.rename(self._key(stamp), taken)
            except redis.ResponseError:  # taken by a concurrent flush a moment ago
                logger.info("metrics minute %s already taken by another flush", stamp)
                continue
            fields = self.client.hgetall(taken)
            self.client.delete(taken)
            minute = datetime.fromtimestamp(stamp, tz=UTC)
            for name, value in fields.items():
                method, route, counter = name.decode().split(SEP)
                agg = data.setdefault((minute, method, route), Aggregate())
                _apply(agg, counter, value.decode())
        return data

    def due_for_flush(self) -> bool:
        return False  # the beat job flushes Redis

    def reset(self) -> None:
        for key in self.client.scan_iter(f"{self.prefix}:*"):
            self.client.delete(key)


def _apply(agg: Aggregate, counter: str, value: str) -> None:
    if counter == "c":
        agg.count = int(value)
    elif counter == "4":
        agg.client_errors = int(value)
    elif counter == "5":
        agg.server_errors = int(value)
    elif counter == "s":
        agg.duration_sum_ms = float(value)
    elif counter == "mn":
        agg.duration_min_ms = float(value)
    elif counter == "mx":
        agg.duration_max_ms = float(value)
    elif counter.startswith("b"):
        agg.histogram[int(counter[1:])] = int(value)
    elif counter.startswith("x"):
        agg.status_codes[counter[1:]] = int(value)


_store: MemoryStore | RedisStore | None = None
_store_lock = threading.Lock()


def store() -> MemoryStore | RedisStore:
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = (
                    RedisStore(settings.REDIS_URL, settings.OPS_METRICS_REDIS_PREFIX)
                    if settings.REDIS_URL
                    else MemoryStore()
                )
    return _store


def set_store(new: MemoryStore | RedisStore | None) -> None:
    """Swap the store (tests use a fresh one each)."""
    global _store
    _store = new


_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def route_label(route: str | None, path: str) -> str:
    """The URL pattern (not the path: /decks/<int:pk>/ is one route however
    many decks there are), tidied for regex patterns from DRF routers."""
    if route is None:
        if path.startswith(settings.STATIC_URL):
            return "<static>"
        return "<unmatched>"
    tidy = _REGEX_GROUP.sub(lambda m: f"<{m.group(1)}>", route).replace("^", "").replace("$", "")
    tidy = tidy.replace("\\.", ".").replace("/?", "/")
    return "/" + tidy.lstrip("/")


_paused_until = 0.0  # after a store failure, stop trying for a while


def record(method: str, route: str, duration_ms: float, status: int, *, now: datetime | None = None) -> None:
    global _paused_until
    if time.monotonic() < _paused_until:
        return
    moment = minute_of(now or timezone.now())
    try:
        store().record(moment, method, route, duration_ms, status)
    except Exception:  # monitoring must never break, or slow down, every request
        _paused_until = time.monotonic() + 30
        logger.warning("could not record request metrics; pausing for 30 s", exc_info=True)


@transaction.atomic
def write_aggregates(data: dict[Key, Aggregate], *, resolution: str = "minute") -> int:
    """Add the aggregates to their rows (creating missing ones). Returns rows touched."""
    from ops.models import RequestMetric

    if not data:
        return 0
    starts = {key[0] for key in data}
    existing = {
        (row.bucket_start, row.method, row.route): row
        for row in RequestMetric.objects.select_for_update().filter(resolution=resolution, bucket_start__in=starts)
    }
    to_create, to_update = [], []
    for (minute, method, route), agg in data.items():
        row = existing.get((minute, method, route))
        if row is None:
            to_create.append(
                RequestMetric(
                    resolution=resolution,
                    bucket_start=minute,
                    method=method,
                    route=route[:255],
                    request_count=agg.count,
                    client_errors=agg.client_errors,
                    server_errors=agg.server_errors,
                    duration_sum_ms=agg.duration_sum_ms,
                    duration_min_ms=agg.duration_min_ms,
                    duration_max_ms=agg.duration_max_ms,
                    histogram=agg.histogram,
                    status_codes=agg.status_codes,
                )
            )
            continue
        row.request_count += agg.count
        row.client_errors += agg.client_errors
        row.server_errors += agg.server_errors
        row.duration_sum_ms += agg.duration_sum_ms
        mins = [v for v in (row.duration_min_ms, agg.duration_min_ms) if v is not None]
        maxs = [v for v in (row.duration_max_ms, agg.duration_max_ms) if v is not None]
        row.duration_min_ms = min(mins) if mins else None
        row.duration_max_ms = max(maxs) if maxs else None
        row.histogram = histogram.merge([row.histogram, agg.histogram])
        codes = dict(row.status_codes)
        for code, count in agg.status_codes.items():
            codes[code] = codes.get(code, 0) + count
        row.status_codes = codes
        to_update.append(row)
    RequestMetric.objects.bulk_create(to_create)
    RequestMetric.objects.bulk_update(
        to_update,
        [
            "request_count",
            "client_errors",
            "server_errors",
            "duration_sum_ms",
            "duration_min_ms",
            "duration_max_ms",
            "histogram",
            "status_codes",
        ],
    )
    return len(to_create) + len(to_update)


def flush() -> int:
    """Move everything recorded so far into the database. Returns rows touched."""
    from django.db import IntegrityError

    data = store().drain()
    for attempt in range(3):
        try:
            return write_aggregates(data)
        except IntegrityError:
            # Another process created one of the same minute rows a moment ago:
            # the next attempt finds it and adds to it instead.
            if attempt == 2:
                raise
    return 0


def rows_to_aggregates(rows: Iterable[Any], bucket: Any) -> dict[Key, Aggregate]:
    """Fold metric rows into aggregates keyed by `bucket(row)` (used by the rollup)."""
    out: dict[Key, Aggregate] = {}
    for row in rows:
        agg = out.setdefault((bucket(row), row.method, row.route), Aggregate())
        agg.count += row.request_count
        agg.client_errors += row.client_errors
        agg.server_errors += row.server_errors
        agg.duration_sum_ms += row.duration_sum_ms
        if row.duration_min_ms is not None:
            agg.duration_min_ms = (
                row.duration_min_ms if agg.duration_min_ms is None else min(agg.duration_min_ms, row.duration_min_ms)
            )
        if row.duration_max_ms is not None:
            agg.duration_max_ms = (
                row.duration_max_ms if agg.duration_max_ms is None else max(agg.duration_max_ms, row.duration_max_ms)
            )
        agg.histogram = histogram.merge([agg.histogram, row.histogram])
        for code, count in row.status_codes.items():
            agg.status_codes[code] = agg.status_codes.get(code, 0) + count
    return out


def window_start(minutes: int, now: datetime | None = None) -> datetime:
    return minute_of(now or timezone.now()) - timedelta(minutes=minutes - 1)
