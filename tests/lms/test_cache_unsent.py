"""Invalidations a process cannot send (lms.cache): kept, deduplicated and
coalesced, bounded, and sent once, before anything else, by the first call
that reaches Redis again. Each test runs its own redis-server
(tests/redis_server.py) and counts the commands it ran."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from redis.exceptions import ResponseError

from lms import cache as lms_cache
from ops import metrics
from tests.ops.test_health_dependencies import redis_cache


@pytest.fixture
def server(settings, own_redis) -> object:
    settings.CACHES = redis_cache(own_redis.url)
    return own_redis


def _writes(server, before: dict[str, int]) -> dict[str, int]:
    after = server.command_calls()
    return {name: after.get(name, 0) - before.get(name, 0) for name in ("del", "set", "unlink") if name in after}


def test_kept_while_the_breaker_is_open_deduplicated_coalesced_and_sent_once_before_the_next_read(server) -> None:
    cache.set("entry:a", "stale")
    cache.set("entry:b", "stale")
    cache.set("token", 1)
    lms_cache._trip(TimeoutError("timed out"))
    for _ in range(3):
        lms_cache.invalidate(delete=["entry:a", "entry:b"], bump=["token"])
    with transaction.atomic():  # now and after the commit: the same keys again
        lms_cache.invalidate(delete=["entry:a"], bump=["token"])
    assert server.client.get(cache.make_key("entry:a")) is not None  # still there for everyone else

    lms_cache.reset_breaker()
    before = server.command_calls()
    assert cache.get("entry:a") is None  # the first read finds it gone: sent before it
    assert cache.get("entry:b") is None
    assert cache.get("token") not in (None, 1)
    # One DEL of both keys, one SET of the token; nothing more on the next calls.
    assert _writes(server, before) == {"del": 1, "set": 1}


def test_what_redis_still_refuses_stays_owed_until_it_takes_it(server) -> None:
    cache.set("entry", "stale")
    server.refuse("readonly")
    lms_cache.invalidate(delete=["entry"])
    assert lms_cache.breaker_open()
    lms_cache.reset_breaker()
    assert cache.get("entry") is None  # refused again: a miss, and the breaker open again
    assert lms_cache.breaker_open()

    server.accept()
    lms_cache.reset_breaker()
    assert cache.get("entry") is None
    assert not server.client.exists(cache.make_key("entry"))


def test_the_backends_own_delete_is_kept_too(server) -> None:
    cache.set_many({"one": 1, "two": 2, "three": 3})
    lms_cache._trip(TimeoutError("timed out"))
    assert cache.delete("one") is False
    assert cache.delete_many(["two", "three"]) == 0
    lms_cache.reset_breaker()
    assert cache.get_many(["one", "two", "three"]) == {}


def test_past_its_bound_every_key_of_the_cache_is_deleted_and_no_other(server, settings) -> None:
    """The coarse fallback: what Redis evicting the whole cache would do,
    which every reader copes with; keys outside the cache's prefix (Celery's
    queues, the request metrics) stay."""
    settings.CACHE_UNSENT_MAX = 3
    cache.set_many({f"entry:{n}": n for n in range(2_500)})
    server.client.set("celery-queue", "kept")
    lms_cache._trip(TimeoutError("timed out"))
    lms_cache.invalidate(delete=["entry:1", "entry:2"], bump=["token"])
    assert cache.get("entry:1") is None  # a miss while the breaker is open
    lms_cache.invalidate(delete=["entry:3", "entry:4"])  # five keys: past the bound

    lms_cache.reset_breaker()
    assert cache.get("entry:2000") is None
    assert server.client.keys(cache.make_key("*")) == []
    assert server.client.get("celery-queue") == b"kept"
    cache.set("entry:1", "fresh")
    assert cache.get("entry:1") == "fresh"  # sent once: the record is empty again


@pytest.mark.django_db(transaction=True)
def test_held_invalidations_refused_on_the_metrics_call_are_kept(server) -> None:
    """An answer's invalidations ride on the request metrics' call
    (lms.cache.held_for_request); a Redis that refuses them there answers the
    metrics' script all the same, so they used to be logged and forgotten."""
    store = metrics.RedisStore(server.url, prefix="test-unsent")
    cache.set("dashboard", "stale")
    server.refuse("readonly")
    with lms_cache.held_for_request() as held:
        with lms_cache.atomic_invalidating_at_commit():
            lms_cache.invalidate(delete=["dashboard"], bump=["figures"], bump_timeout=60)
        also = held.queue_on(store.client)
        assert also is not None
        # The metrics' own script is refused too (ops.metrics.record falls back).
        with pytest.raises(ResponseError, match="read only replica"):
            store.record(metrics.minute_of(timezone.now()), "POST", "/answer/", 3.0, 201, also=also)
        held.clear()
    assert lms_cache.breaker_open()

    server.accept()
    lms_cache.reset_breaker()
    assert cache.get("dashboard") is None
    assert isinstance(cache.get("figures"), int)


def test_a_clean_exit_sends_what_is_owed_even_with_the_breaker_open(server) -> None:
    cache.set("entry", "stale")
    lms_cache._trip(TimeoutError("timed out"))
    lms_cache.invalidate(delete=["entry"])
    lms_cache._exiting()  # atexit: a recycled worker's last chance
    assert not server.client.exists(cache.make_key("entry"))
