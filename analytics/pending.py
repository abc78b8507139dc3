"""Events buffered in Redis and written to the event table in bulk.

A request's events (its page view or API call, the domain events it tracked,
a log-in) used to be written with one INSERT and its autocommit when the
response was ready: a database round trip on every request, the most
frequent one of the study loop. They are pushed to a Redis list instead (an
RPUSH folded into the request-metrics script every request runs anyway,
`defer`) and written with one multi-row INSERT per batch by:

- the beat job `analytics.flush_pending` (every minute), and
- every reader of the event table before it reads: the `Event` manager
  (`analytics.models.EventManager`), the raw report reads
  (`analytics.queries._fetch`) and the rollups (`services.rollup_day`), so
  every figure counts the buffered events as if they had been written at once.
  Each event keeps the timestamp of its request.

With a read replica (`DATABASE_REPLICA_URL`) the flushed rows reach the
replica's report reads after its replication lag, like any other write.

An event keeps its user's id. A user deleted before the flush takes their
events with them (the foreign key cascades): the flush drops the buffered
events of users who no longer exist, so the table ends as if they had been
written at once and deleted with the account (and an erasure of a user's
events reads, so flushes, first). A user deleted between that check and the
INSERT makes the INSERT fail: the batch goes back and the next flush drops
the event. Inside a reader's transaction on PostgreSQL that failure would come
at the reader's commit instead (Django's foreign keys are deferred): the same
narrow race a direct INSERT of that user's event has always had.

Without a Redis cache (tests, a laptop with the in-memory cache) nothing is
buffered: each process's memory would hide the events from the others, so they
are written at once as before. While Redis cannot be reached (the cache's
breaker, `lms.cache.guarded`) the event is written at once too.

A flush reads a batch from the head of the list (LRANGE), INSERTs it, and
trims it from the list (LTRIM, in a small script that first checks the head
is still that batch) only once the INSERT has committed. A batch whose INSERT
fails stays where it was, in order, for the next flush: keeping it needs no
write to Redis. It used to be popped first and pushed back on failure, and a
Redis at `maxmemory` under `noeviction` refused the push back (OOM): the
batch, up to `BATCH` events, was lost (reproduced in
tests/analytics/test_pending_refusals.py). Reads and LTRIM are not refused
out of memory, so the flush drains the buffer then too. A batch written but
not trimmed (the process killed in between, Redis gone) is read again by the
next flush, which finds it in the table (`_not_written_yet`) and only trims
it. Two flushers at once (two Celery workers, a worker and a web request) are
safe: on PostgreSQL the flush holds an advisory lock for its transaction, and
a second flush that cannot take it leaves the buffer to the first (readers
do not wait); one that read a head another flush has since trimmed finds
those events written and does not trim what is now the head.

A Redis stopped without persistence loses what was buffered since the last
flush (at most a minute of events; seen in the live drill of 2026-12-07: the
148 events of the 29 s since the last flush, Redis shut down with `nosave`),
as it loses the request metrics of that minute: give Redis AOF in production
(docs/ops.md). While it is down, events are written at once, with their own
timestamps, and nothing else is lost (same drill: every event of the two
outage minutes stored). A push whose Redis call timed out but ran anyway (a
hung Redis runs the queued call when it wakes; a slow one after the client
gave up) is also written at once: the flush skips an event already in the
table, and a second copy in the buffer (same name, timestamp, user, session
and properties), so it is stored once. Still written twice: a copy a flush
took in the instant between Redis running the push and the request's own
write, or two copies written by two flushes at the same moment. The request
metrics do not count that request twice: a call that timed out waiting for
its answer is left to Redis (ops.metrics.record). A
reader inside a transaction writes the batch in that transaction (a
savepoint) and trims it when the savepoint is released: the reader's rollback
would drop it, so readers read, they do not roll back; its advisory lock is
held to the end of its transaction. While maintenance mode is on nothing is flushed (a restore must not
race event inserts); the events wait in Redis.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from lms import maintenance

logger = logging.getLogger(__name__)

KEY = "lms:analytics:pending-events"
BATCH = 500


# Trim `n` items from the head of the list only if they are still the ones
# this flush read (compared by a digest: the batch is not sent back): another
# flush may have trimmed them (and later ones may be at the head now). LRANGE
# and LTRIM are not refused by a Redis out of memory (they free memory), nor
# is a script that calls only them.
_TRIM = """
local n = tonumber(ARGV[1])
local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #head ~= n or redis.sha1hex(table.concat(head, '\\n')) ~= ARGV[2] then return 0 end
redis.call('LTRIM', KEYS[1], n, -1)
return 1
"""


def _digest(items: list[bytes]) -> str:
    return hashlib.sha1(b"\n".join(items)).hexdigest()  # noqa: S324 - a checksum, not a secret


class RedisBuffer:
    """The Redis list of pending events, as JSON arrays
    `[name, session_key, properties, timestamp, user id or null]` (items pushed
    before users were kept have no fifth element)."""

    def __init__(self, client: Any, key: str = KEY) -> None:
        self.client = client
        self.key = key
        self._trim = client.register_script(_TRIM)

    def push(self, *items: bytes) -> bool:
        from lms.cache import guarded

        return bool(guarded(lambda: self.client.rpush(self.key, *items), default=False))

    def peek(self, count: int) -> list[bytes]:
        """Up to `count` items from the head, left in the list (see `trim`)."""
        from lms.cache import guarded

        return guarded(lambda: self.client.lrange(self.key, 0, count - 1), default=None) or []

    def trim(self, items: list[bytes]) -> bool | None:
        """Remove `items` from the head of the list: True when they were
        removed, False when they are no longer its head (another flush took
        them), None when Redis could not be asked (they stay, and the next
        flush finds them written)."""
        from lms.cache import guarded

        done = guarded(lambda: self._trim(keys=[self.key], args=[len(items), _digest(items)]), default=None)
        return None if done is None else bool(done)

    def length(self) -> int:
        return int(self.client.llen(self.key))

    def reset(self) -> None:
        self.client.delete(self.key)


_store: RedisBuffer | None = None
_store_known = False


def store() -> RedisBuffer | None:
    """The buffer when the default cache is Redis, else None (write at once)."""
    global _store, _store_known
    if not _store_known:
        from lms.cache import raw_client

        client = raw_client()
        _store = RedisBuffer(client) if client is not None else None
        _store_known = True
    return _store


def set_store(new: RedisBuffer | None) -> None:
    """Tests: buffer into `new` (None: write at once)."""
    global _store, _store_known
    _store, _store_known = new, True


def reset_store() -> None:
    """Look at the cache settings again on the next use."""
    global _store, _store_known
    _store, _store_known = None, False


def _encode(event: Any) -> bytes:
    return json.dumps(
        [event.name, event.session_key, event.properties, event.timestamp.isoformat(), event.user_id]
    ).encode()


def _decode(item: bytes) -> Any:
    """The event, or None for an item that is not one (dropped: it must not
    block the list for ever)."""
    from analytics.models import Event

    try:
        name, session_key, properties, stamp, *rest = json.loads(item)
        user_id = rest[0] if rest else None
        return Event(
            name=str(name),
            session_key=str(session_key),
            properties=properties,
            timestamp=datetime.fromisoformat(stamp),
            user_id=None if user_id is None else int(user_id),
        )
    except (ValueError, TypeError):
        logger.warning("dropping an undecodable pending analytics event: %r", item[:200])
        return None


def record(events: list[Any]) -> None:
    """Buffer these events (one RPUSH), or write them at once (no Redis, Redis
    unreachable). Never raises, like `services.flush`."""
    from analytics import services

    if not events:
        return
    buffer = store()
    if buffer is None or not buffer.push(*map(_encode, events)):
        services.flush(events)


def defer(request: Any, events: list[Any]) -> None:
    """Buffer these events with the request's metrics call when the request
    collects them (`ops.middleware.RequestMetricsMiddleware` gives every
    request an `analytics_pending` list and pushes it in the Redis call it
    makes anyway, `ops.metrics.record(push=...)`: no round trip of their own);
    otherwise as `record` does."""
    collected = getattr(request, "analytics_pending", None)
    if collected is None or store() is None:
        record(events)
        return
    collected.extend(_encode(e) for e in events)


def fold_into(items: list[bytes], metrics_store: Any) -> tuple[str, list[bytes]] | None:
    """(list key, items) for the metrics store's Redis call to push, when it
    talks to the same Redis server and database as the buffer; else None."""
    buffer = store()
    shares = getattr(metrics_store, "shares_server_with", None)
    if not items or buffer is None or shares is None or not shares(buffer.client):
        return None
    return buffer.key, items


def push_encoded(items: list[bytes]) -> None:
    """Buffer encoded events the metrics call did not push; what cannot be
    pushed is written at once."""
    from analytics import services

    buffer = store()
    if not items or (buffer is not None and buffer.push(*items)):
        return
    events = [e for e in map(_decode, items) if e is not None]
    if events:
        services.flush(events)


def _of_existing_users(events: list[Any]) -> list[Any]:
    """The events whose user still exists (or that have none): a deleted
    account's events went with it, and its buffered ones go too."""
    user_ids = {e.user_id for e in events if e.user_id is not None}
    if not user_ids:
        return events
    model = get_user_model()
    existing = set(model._base_manager.filter(pk__in=user_ids).values_list("pk", flat=True))
    return [e for e in events if e.user_id is None or e.user_id in existing]


def _identity(name: str, timestamp: datetime, user_id: int | None, session_key: str, properties: Any) -> tuple:
    return (name, timestamp, user_id, session_key, json.dumps(properties, sort_keys=True, default=str))


def _not_written_yet(events: list[Any]) -> list[Any]:
    """The events not already in the table, each once. An event is written
    twice when its push timed out but Redis ran it (a hung Redis runs the
    queued push when it wakes; a slow one after the client gave up): the
    request wrote it at once, and the buffer has it too, maybe twice (the
    metrics' call and the push on its own). The same name, timestamp (to the
    microsecond), user, session and properties is the same event. One indexed
    read per batch (`event_time`), only when something was buffered."""
    from analytics.models import Event

    fresh: dict[tuple, Any] = {}
    for event in events:
        fresh.setdefault(
            _identity(event.name, event.timestamp, event.user_id, event.session_key, event.properties), event
        )
    if not fresh:
        return []
    # _base_manager: the default manager would flush first (it is how readers flush).
    written = Event._base_manager.filter(timestamp__in={key[1] for key in fresh}).values_list(
        "name", "timestamp", "user_id", "session_key", "properties"
    )
    for row in written:
        fresh.pop(_identity(*row), None)
    return list(fresh.values())


# Held by the flush writing the buffer (PostgreSQL, for its transaction):
# two flushes reading the same head of the list must not both INSERT it.
_FLUSH_LOCK = 0x6C6D7370  # "lmsp"


def _flush_lock() -> bool:
    """Take the flush's lock for this transaction; False when another flush
    holds it (its events are being written: this reader does not wait). On
    SQLite the database's own write lock serialises flushes."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_FLUSH_LOCK])
        return bool(cursor.fetchone()[0])


def flush() -> int:
    """Write every buffered event to the event table, in batches; the number
    written. Safe to run anywhere, any number of times, concurrently.

    A batch is read (LRANGE), written, and trimmed from the list only once
    its INSERT has committed: a failed INSERT leaves it where it was, and no
    write to Redis is needed to keep it (a Redis out of memory refuses
    writes; LRANGE and LTRIM free memory, it runs them). An event written
    whose trim did not happen (the process died, Redis went away) is read
    again and skipped by `_not_written_yet`."""
    buffer = store()
    if buffer is None or maintenance.active():
        return 0
    from analytics import services

    written = 0
    while True:
        items = buffer.peek(BATCH)
        if not items:
            return written
        try:
            # Its own transaction, or a savepoint in a reader's: a failed INSERT
            # does not break the reader's work.
            with transaction.atomic():
                if not _flush_lock():
                    return written  # another flush is writing them
                decoded = [e for e in map(_decode, items) if e is not None]
                events = _not_written_yet(_of_existing_users(decoded))
                services.insert_events(events)
        except Exception:
            logger.exception("could not write %d pending analytics events; kept for the next flush", len(items))
            return written
        written += len(events)
        trimmed = buffer.trim(items)
        if trimmed is None:
            return written  # written, and still in Redis: the next flush skips them
        # False: another flush (or a process of the previous release) took
        # them from the head; read it again.
        if trimmed and len(items) < BATCH:
            return written
