"""Request metrics: recorded on the hot path outside the database, flushed
each minute into `RequestMetric` rows, read back per route and window.

Hot path: with `REDIS_URL` set every web process adds to one Redis hash per
minute through a small Lua script (one round trip, atomic); without Redis each
process keeps its own counters in memory and writes them itself once a minute
has closed (the beat job cannot see another process's memory).

Nothing is lost to an outage of either store:

- Redis counters leave Redis only after the database write has committed: a
  flush renames each minute's hash to a "taken" key (listed in a set), writes
  the rows, and deletes the taken keys only then. When the write fails the
  taken keys stay and the next flush writes them (one flush at a time, under
  a short Redis lock). Each taken key is written exactly once: its name (a
  fresh id per rename) goes into `RequestMetricFlush` in the same transaction
  as its counters, so a flush killed between that commit and the delete is
  replayed as a no-op for those keys.
- When Redis cannot be reached, or refuses writes (out of memory under
  `noeviction`, a read-only replica), each process records into its own
  memory (`fallback`) and writes that to the database itself once a minute
  (and at exit: lms.process_exit); when the database write fails, the
  counters go back into memory. A refusing Redis refuses the flush's lock
  too: what it holds stays there until it takes writes again. Both are
  counted in `lms_request_metrics_redis_failures_total{step,kind}`.
- Each request is counted once. A call that timed out waiting for its answer
  was sent: a hung Redis runs it when it wakes (a slow one after the client
  gave up), so that request is not counted in memory too (it was, and each
  such request counted twice). The price: a hung Redis that is killed
  instead of resumed loses those requests (one per process per
  REDIS_RETRY_SECONDS of the hang), with the rest of the minute's counters it
  held. Chosen over an id per request checked in the script (a re-send made
  safe): that costs a key per request in Redis for as long as a hang can
  last, on every request, to save a few requests in a rarer failure.

A flush is meant to run outside any transaction (beat task, command,
middleware): its own transaction is the commit that releases the counters.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter

from lms import process_exit
from lms.cache import error_code, failure_kind
from ops import histogram

if TYPE_CHECKING:
    from ops.models import RequestMetric

logger = logging.getLogger(__name__)
redis_failures = Counter(
    "lms_request_metrics_redis_failures_total",
    "Request metrics calls to Redis that failed, by step: record (the request counted in this process's memory "
    "instead, which the process writes to the database itself) or flush (the counters left in Redis for the next "
    "flush); and by kind: unreachable, refused (a live Redis refusing writes: OOM, READONLY...) or command",
    ["step", "kind"],
)
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

    def merge(self, other: Aggregate) -> None:
        self.count += other.count
        self.client_errors += other.client_errors
        self.server_errors += other.server_errors
        self.duration_sum_ms += other.duration_sum_ms
        mins = [v for v in (self.duration_min_ms, other.duration_min_ms) if v is not None]
        maxs = [v for v in (self.duration_max_ms, other.duration_max_ms) if v is not None]
        self.duration_min_ms = min(mins) if mins else None
        self.duration_max_ms = max(maxs) if maxs else None
        self.histogram = histogram.merge([self.histogram, other.histogram])
        for code, count in other.status_codes.items():
            self.status_codes[code] = self.status_codes.get(code, 0) + count

    @classmethod
    def of_row(cls, row: RequestMetric) -> Aggregate:
        return cls(
            row.request_count,
            row.client_errors,
            row.server_errors,
            row.duration_sum_ms,
            row.duration_min_ms,
            row.duration_max_ms,
            list(row.histogram),
            dict(row.status_codes),
        )

    def row_fields(self) -> dict[str, object]:
        """The RequestMetric fields this aggregate fills (ROW_FIELDS)."""
        return {
            "request_count": self.count,
            "client_errors": self.client_errors,
            "server_errors": self.server_errors,
            "duration_sum_ms": self.duration_sum_ms,
            "duration_min_ms": self.duration_min_ms,
            "duration_max_ms": self.duration_max_ms,
            "histogram": self.histogram,
            "status_codes": self.status_codes,
        }


ROW_FIELDS = list(Aggregate().row_fields())


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

    def put_back(self, data: dict[Key, Aggregate]) -> None:
        """Return counters whose database write failed (merged with any newer)."""
        with self._lock:
            for key, agg in data.items():
                self._data.setdefault(key, Aggregate()).merge(agg)

    def has_data(self) -> bool:
        return bool(self._data)

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
-- The request's analytics events buffered (analytics.pending), in the
-- same round trip; last, so an error above never leaves them pushed.
if KEYS[3] then redis.call('RPUSH', KEYS[3], unpack(ARGV, 7)) end
return 1
"""


FLUSH_LOCK_SECONDS = 120
TAKEN_SECONDS = 7 * 24 * 3600  # a taken key waits this long for a database that is down
# Moves one minute's hash aside to a taken key and lists it, atomically (a
# request cannot land between the steps). The one write that needs memory,
# listing the taken key, comes first: a Redis out of memory (maxmemory with
# noeviction) refuses a script's first such write and then nothing has
# changed; the steps were separate commands, and an OOM between the RENAME
# and the SADD left a hash that no flush would find, its counters lost.
_TAKE_MINUTE = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('SADD', KEYS[4], KEYS[3])
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('RENAME', KEYS[2], KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    def __init__(self, url: str, prefix: str = "ops:metrics") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = prefix
        self._script = self.client.register_script(_LUA)
        self._take_minute = self.client.register_script(_TAKE_MINUTE)

    def _minutes_key(self) -> str:
        return f"{self.prefix}:minutes"

    def _key(self, stamp: int) -> str:
        return f"{self.prefix}:{stamp}"

    def record(
        self,
        minute: datetime,
        method: str,
        route: str,
        duration_ms: float,
        status: int,
        push: tuple[str, list[bytes]] | None = None,
        also: Callable[[Any], Callable[[list], None] | None] | None = None,
    ) -> None:
        """`also` adds commands of the caller's to the same round trip (a
        pipeline of this store's client, after the script) and may return a
        function to give their answers to."""
        stamp = int(minute.timestamp())
        kind = "4" if 400 <= status < 500 else "5" if status >= 500 else ""
        keys = [self._key(stamp), self._minutes_key(), *([push[0]] if push else [])]
        args = [
            f"{method}{SEP}{route}{SEP}",
            repr(float(duration_ms)),
            histogram.bucket_index(duration_ms),
            kind,
            status,
            stamp,
            *(push[1] if push else []),
        ]
        if also is None:
            self._script(keys=keys, args=args)
            return
        # EVALSHA by hand: a pipeline given the Script object would first ask
        # SCRIPT EXISTS, a round trip of its own.
        from redis.exceptions import NoScriptError

        pipe = self.client.pipeline(transaction=False)
        pipe.evalsha(self._script.sha, len(keys), *keys, *args)
        answered = also(pipe)
        results = pipe.execute(raise_on_error=False)
        for error in (r for r in results[1:] if isinstance(r, Exception)):
            # Redis answered (the connection is fine): a refused write, as
            # one sent on its own would have been.
            logger.warning("a command sent with the request metrics failed: %s", error)
        if answered is not None:  # the caller's commands' answers (lms.cache keeps refused invalidations)
            answered(results[1:])
        if isinstance(results[0], NoScriptError):  # Redis restarted or flushed its scripts
            self._script(keys=keys, args=args)
        elif isinstance(results[0], Exception):
            raise results[0]

    def shares_server_with(self, client: Any) -> bool:
        """Whether `client` talks to this store's Redis server and database."""

        def where(c: Any) -> tuple:
            kwargs = c.connection_pool.connection_kwargs
            return (kwargs.get("host"), kwargs.get("port"), kwargs.get("path"), kwargs.get("db", 0))

        return where(self.client) == where(client)

    def _taken_key(self) -> str:
        return f"{self.prefix}:taken"

    def _lock_key(self) -> str:
        return f"{self.prefix}:flush-lock"

    def take(self) -> tuple[dict[str, dict[Key, Aggregate]], str] | None:
        """Phase one of a flush: move every minute's hash aside and read it,
        together with any taken earlier by a flush whose database write (or
        release) did not happen. Returns ({taken key: its counters}, lock
        token), or None when another flush holds the lock. Nothing is deleted
        here: see `release`."""
        token = uuid.uuid4().hex
        if not self.client.set(self._lock_key(), token, nx=True, ex=FLUSH_LOCK_SECONDS):
            return None
        try:
            for raw in self.client.smembers(self._minutes_key()):
                stamp = int(raw)
                taken = f"{self._key(stamp)}:taken:{uuid.uuid4().hex}"
                self._take_minute(
                    keys=[self._minutes_key(), self._key(stamp), taken, self._taken_key()], args=[raw, TAKEN_SECONDS]
                )
            snapshots: dict[str, dict[Key, Aggregate]] = {}
            for key in sorted(raw.decode() for raw in self.client.smembers(self._taken_key())):
                stamp = int(key[len(self.prefix) + 1 :].split(":", 1)[0])
                minute = datetime.fromtimestamp(stamp, tz=UTC)
                parsed = snapshots[key] = {}
                for name, value in self.client.hgetall(key).items():
                    method, route, counter = name.decode().split(SEP)
                    _apply(parsed.setdefault((minute, method, route), Aggregate()), counter, value.decode())
        except Exception:
            self._unlock(token)
            raise
        return snapshots, token

    def release(self, keys: list[str], token: str, *, written: bool) -> None:
        """Phase two: once the rows are committed, delete what was written; when
        the write failed, leave the taken keys for the next flush."""
        try:
            if written and keys:
                pipe = self.client.pipeline()
                pipe.delete(*keys)
                pipe.srem(self._taken_key(), *keys)
                pipe.execute()
        finally:
            self._unlock(token)

    def _unlock(self, token: str) -> None:
        # Only our own lock: after FLUSH_LOCK_SECONDS another flush may hold it.
        self.client.eval(_UNLOCK, 1, self._lock_key(), token)

    def drain(self) -> dict[Key, Aggregate]:
        """Take everything and forget it at once (tests; `flush` uses take/release)."""
        taken = self.take()
        if taken is None:
            return {}
        snapshots, token = taken
        self.release(list(snapshots), token, written=True)
        return merge_snapshots(snapshots.values())

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


# The counters this process could not give to Redis (kept until Redis or the
# database takes them); in memory mode the store itself plays that part.
fallback = MemoryStore()
_paused_until = 0.0  # after a Redis failure, stop trying it for a while
REDIS_RETRY_SECONDS = 30


def record(
    method: str,
    route: str,
    duration_ms: float,
    status: int,
    *,
    now: datetime | None = None,
    push: tuple[str, list[bytes]] | None = None,
    also: Callable[[Any], Callable[[list], None] | None] | None = None,
) -> bool:
    """Count one request. `push`, (list key, items), is RPUSHed in the same
    Redis call when the store is Redis (analytics.pending's buffered events),
    and `also` adds its commands to that round trip (lms.cache's held
    writes); True when they were, else the caller sends them itself."""
    global _paused_until
    moment = minute_of(now or timezone.now())
    if time.monotonic() >= _paused_until:
        try:
            current = store()
            if (push is not None or also is not None) and isinstance(current, RedisStore):
                current.record(moment, method, route, duration_ms, status, push=push, also=also)
                return True
            current.record(moment, method, route, duration_ms, status)
            return False
        except Exception as exc:  # monitoring must never break, or slow down, every request
            _paused_until = time.monotonic() + REDIS_RETRY_SECONDS
            redis_failures.labels(step="record", kind=failure_kind(exc)).inc()
            if was_sent(exc):
                logger.warning(
                    "request metrics sent but not answered (Redis hung or slow): counted when Redis runs them, "
                    "not in memory; keeping the next ones in memory for %s s",
                    REDIS_RETRY_SECONDS,
                    exc_info=True,
                )
                return False
            logger.warning(
                "could not record request metrics (Redis %s); keeping them in memory for %s s",
                _what_failed(exc),
                REDIS_RETRY_SECONDS,
                exc_info=True,
            )
    fallback.record(moment, method, route, duration_ms, status)
    return False


def _what_failed(exc: BaseException) -> str:
    """ "unreachable", or "refused: OOM" and the like, for a log line."""
    kind = failure_kind(exc)
    return kind if kind == "unreachable" else f"{kind}: {error_code(exc)}"


def was_sent(exc: BaseException) -> bool:
    """Whether a failed Redis call had been sent whole and was waiting for its
    answer: a hung Redis runs it when it wakes (it is in its socket buffer),
    a slow one after the client gave up. Counting that request in memory too
    counted it twice (drill of 2026-12-07, tests/ops/test_metrics_hung_redis.py).
    A timeout connecting or writing means Redis never had the whole call."""
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, RedisTimeoutError) and str(exc).startswith("Timeout reading")


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
                    resolution=resolution, bucket_start=minute, method=method, route=route[:255], **agg.row_fields()
                )
            )
            continue
        merged = Aggregate.of_row(row)
        merged.merge(agg)
        for name, value in merged.row_fields().items():
            setattr(row, name, value)
        to_update.append(row)
    RequestMetric.objects.bulk_create(to_create)
    RequestMetric.objects.bulk_update(
        to_update,
        ROW_FIELDS,
    )
    return len(to_create) + len(to_update)


def merge_snapshots(snapshots: Iterable[dict[Key, Aggregate]]) -> dict[Key, Aggregate]:
    """One set of counters (two snapshots may hold the same minute)."""
    data: dict[Key, Aggregate] = {}
    for counters in snapshots:
        for key, agg in counters.items():
            data.setdefault(key, Aggregate()).merge(agg)
    return data


FLUSH_RECORD_DAYS = 8  # past the taken keys' week in Redis


@transaction.atomic
def write_snapshots(snapshots: dict[str, dict[Key, Aggregate]]) -> int:
    """Write Redis snapshots ({taken key: counters}) exactly once: each key is
    recorded with its counters in one transaction, and one already recorded
    (its flush committed, then died before Redis deleted it) is skipped.
    Two flushes writing the same key at once: the unique key makes the later
    one fail with IntegrityError, and its retry (`_write`) finds it written."""
    from ops.models import RequestMetricFlush

    done = set(RequestMetricFlush.objects.filter(key__in=list(snapshots)).values_list("key", flat=True))
    fresh = [key for key in snapshots if key not in done]
    if not fresh:
        return 0
    RequestMetricFlush.objects.bulk_create(RequestMetricFlush(key=key) for key in fresh)
    return write_aggregates(merge_snapshots(snapshots[key] for key in fresh))


def flushes_delete_expired(*, now: datetime) -> int:
    """Forget snapshot records older than any taken key Redis still keeps
    (the weekly retention clean-up)."""
    from ops.models import RequestMetricFlush

    cutoff = now - timedelta(days=FLUSH_RECORD_DAYS)
    return RequestMetricFlush.objects.filter(flushed_at__lt=cutoff).delete()[0]


def _write(write: Callable[[], int]) -> int:
    from django.db import IntegrityError

    for attempt in range(3):
        try:
            return write()
        except IntegrityError:
            # Another process created one of the same minute rows a moment ago:
            # the next attempt finds it and adds to it instead.
            if attempt == 2:
                raise
    return 0


def _flush_memory(memory: MemoryStore) -> int:
    data = memory.drain()
    try:
        return _write(lambda: write_aggregates(data))
    except Exception:
        memory.put_back(data)
        raise


def flush() -> int:
    """Move everything recorded so far into the database. Returns rows touched.

    Raises when the database write fails; every counter is then still where it
    was (Redis or this process's memory) for the next flush. Redis being down
    is not an error here: there is nothing in it to lose, and this process's
    own counters are still written."""
    touched = 0
    current = store()
    if isinstance(current, RedisStore):
        try:
            taken = current.take()
        except Exception as exc:
            # Nothing is lost: what was recorded stays in Redis (each minute's
            # hash for two days after its last request, a taken key for a
            # week), and what Redis did not take meanwhile waits in each
            # process's memory, which that process writes itself each minute.
            redis_failures.labels(step="flush", kind=failure_kind(exc)).inc()
            logger.warning(
                "could not take the request metrics from Redis (%s); they stay there for the next flush",
                _what_failed(exc),
                exc_info=failure_kind(exc) != "refused",
            )
            taken = None
        if taken is not None:
            snapshots, token = taken
            written = False
            try:
                touched += _write(lambda: write_snapshots(snapshots))
                written = True
            finally:
                try:
                    current.release(list(snapshots), token, written=written)
                except Exception:
                    # The rows are committed but the taken keys stay: the next
                    # flush finds them recorded and only deletes them.
                    logger.warning("metrics written but not released from Redis: %s", list(snapshots), exc_info=True)
    else:
        touched += _flush_memory(current)
    if fallback is not current and fallback.has_data():
        touched += _flush_memory(fallback)
    return touched


def flush_local_if_due() -> int:
    """The hot path's part: write this process's own counters once a minute
    (memory mode, or what Redis could not take). Never raises."""
    current = store()
    for memory in (current, fallback):
        if isinstance(memory, MemoryStore) and memory.has_data() and memory.due_for_flush():
            try:
                return _flush_memory(memory)
            except Exception:  # put back by _flush_memory; tried again in a minute
                logger.warning("could not flush request metrics; kept in memory", exc_info=True)
    return 0


@process_exit.register
def _flush_at_exit() -> None:
    """Write what this process holds in memory (lms.process_exit: gunicorn
    workers and Celery pool processes too), bounded by the database's
    connect timeout; what a failed write leaves is lost, and logged."""
    if not settings.OPS_METRICS_SELF_FLUSH:
        return
    for memory in {id(m): m for m in (_store, fallback) if isinstance(m, MemoryStore)}.values():
        if memory.has_data():
            try:
                _flush_memory(memory)
            except Exception:
                logger.error("request metrics lost at exit", exc_info=True)


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
