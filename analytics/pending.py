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

Two flushers at once (two Celery workers, a worker and a web request) are
safe: `LPOP key count` takes each event exactly once, atomically. A batch
whose INSERT fails goes back to the head of the list, in order, for the next
flush; a process killed between the LPOP and the INSERT loses that batch
(at most `BATCH` events), the price of not writing them one by one.
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
metrics have no such check: that request may count twice. A
reader inside a transaction writes the batch in that transaction (a
savepoint): the reader's rollback would drop it, so readers read, they do not
roll back. While maintenance mode is on nothing is flushed (a restore must not
race event inserts); the events wait in Redis.
"""

from __future__ import annotations

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


class RedisBuffer:
    """The Redis list of pending events, as JSON arrays
    `[name, session_key, properties, timestamp, user id or null]` (items pushed
    before users were kept have no fifth element)."""

    def __init__(self, client: Any, key: str = KEY) -> None:
        self.client = client
        self.key = key

    def push(self, *items: bytes) -> bool:
        from lms.cache import guarded

        return bool(guarded(lambda: self.client.rpush(self.key, *items), default=False))

    def take(self, count: int) -> list[bytes]:
        from lms.cache import guarded

        return guarded(lambda: self.client.lpop(self.key, count), default=None) or []

    def put_back(self, items: list[bytes]) -> None:
        from lms.cache import guarded

        # LPUSH inserts one by one at the head: reversed, the batch keeps its order.
        guarded(lambda: self.client.lpush(self.key, *reversed(items)), default=None)

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


def flush() -> int:
    """Write every buffered event to the event table, in batches; the number
    written. Safe to run anywhere, any number of times, concurrently."""
    buffer = store()
    if buffer is None or maintenance.active():
        return 0
    from analytics import services

    written = 0
    while True:
        items = buffer.take(BATCH)
        if not items:
            return written
        try:
            events = _not_written_yet(_of_existing_users([e for e in map(_decode, items) if e is not None]))
            if connection.in_atomic_block:
                with transaction.atomic():
                    services.insert_events(events)
            else:
                services.insert_events(events)
        except Exception:
            buffer.put_back(items)
            logger.exception("could not write %d pending analytics events; kept for the next flush", len(items))
            return written
        written += len(events)
        if len(items) < BATCH:
            return written
