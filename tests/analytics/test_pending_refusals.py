"""The analytics buffer (analytics.pending) on a Redis of the test's own
(tests/redis_server.py) that refuses writes: at `maxmemory` under
`noeviction` every command that may add memory answers OOM, while reads and
the commands that free memory (LRANGE, LTRIM, LPOP, DEL) still run.

The flush used to pop a batch and push it back when its INSERT failed; the
push back was refused and the batch (up to `BATCH` events) was lost. It now
reads the batch, writes it, and trims it from the list only after the commit."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.utils import timezone

from analytics import pending, services
from analytics.models import Event
from lms.cache import reset_breaker

pytestmark = pytest.mark.django_db


@pytest.fixture
def buffer(own_redis):
    import redis

    store = pending.RedisBuffer(redis.Redis.from_url(own_redis.url, socket_timeout=2), key="test-pending")
    pending.set_store(store)
    yield store
    pending.reset_store()
    reset_breaker()


def table_rows() -> list[tuple]:
    """Read behind the readers' backs (no flush): what is in the table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, properties FROM analytics_event ORDER BY id")
        return [(name, json.loads(props) if isinstance(props, str) else props) for name, props in cursor.fetchall()]


def buffered(count: int) -> list[bytes]:
    stamp = timezone.now()
    return [pending._encode(Event(name="page_view", properties={"n": n}, timestamp=stamp)) for n in range(count)]


def test_a_failed_insert_on_a_redis_out_of_memory_keeps_the_batch(buffer, own_redis, monkeypatch) -> None:
    items = buffered(5)
    assert buffer.push(*items)
    own_redis.refuse("oom")

    def broken(events: list[Event]) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "insert_events", broken)
    assert pending.flush() == 0
    assert buffer.client.lrange(buffer.key, 0, -1) == items  # all there, in order
    monkeypatch.undo()
    # Still out of memory: the next flush writes them and trims them (LTRIM frees memory).
    assert pending.flush() == 5 and buffer.length() == 0
    assert [properties["n"] for _, properties in table_rows()] == [0, 1, 2, 3, 4]


def test_a_redis_out_of_memory_is_drained_by_the_flush(buffer, own_redis, monkeypatch) -> None:
    """Batch by batch: the buffer is what frees Redis's memory."""
    monkeypatch.setattr(pending, "BATCH", 2)
    assert buffer.push(*buffered(5))
    own_redis.refuse("oom")
    assert pending.flush() == 5 and buffer.length() == 0
    assert len(table_rows()) == 5


def test_a_batch_written_but_not_trimmed_is_not_written_again(buffer, own_redis, monkeypatch) -> None:
    """The process died (or Redis went away) between the commit and the trim:
    the next flush reads the batch again and finds it in the table."""
    assert buffer.push(*buffered(3))
    monkeypatch.setattr(buffer, "trim", lambda items: None)
    assert pending.flush() == 3 and buffer.length() == 3
    monkeypatch.undo()
    assert pending.flush() == 0 and buffer.length() == 0
    assert len(table_rows()) == 3


def test_a_batch_another_flush_trimmed_first_is_not_trimmed_twice(buffer) -> None:
    """The trim removes the items it read only while they are still the head."""
    first, later = buffered(2), buffered(1)
    assert buffer.push(*first)
    buffer.client.ltrim(buffer.key, 2, -1)  # another flush took them
    assert buffer.push(*later)
    assert buffer.trim(first) is False
    assert buffer.client.lrange(buffer.key, 0, -1) == later
    assert buffer.trim(later) is True and buffer.length() == 0
