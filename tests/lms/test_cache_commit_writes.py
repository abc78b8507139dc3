"""The after-commit batch of invalidations (lms.cache): one round trip per
transaction, nothing sent when it rolls back, and the answer's transaction
sends its invalidations only after the commit."""

from __future__ import annotations

import os

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from learning import progress
from lms import cache as lms_cache
from tests.ops.test_health_dependencies import redis_cache


@pytest.mark.django_db(transaction=True)
def test_writes_asked_in_a_transaction_are_sent_once_after_the_commit(monkeypatch) -> None:
    sent: list[tuple[set[str], dict[str, int | None]]] = []
    real = lms_cache.invalidate_at_once
    monkeypatch.setattr(
        lms_cache, "invalidate_at_once", lambda *, delete=(), bump=None: sent.append((set(delete), dict(bump or {})))
    )
    cache.set("a", 1)
    with transaction.atomic():
        lms_cache.invalidate(delete=["a"], now=False)
        lms_cache.invalidate(bump=["b"], bump_timeout=60, now=False)
        lms_cache.invalidate(delete=["c"], bump=["d"], now=False)
        assert sent == []
    assert sent == [({"a", "c"}, {"b": 60, "d": None})]
    cache.set("b", 2)
    real(delete=["a"], bump={"b": 60})
    assert cache.get("a") is None and cache.get("b") not in (None, 2)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_sends_nothing_and_the_next_one_starts_a_new_batch(monkeypatch) -> None:
    sent: list[set[str]] = []
    monkeypatch.setattr(lms_cache, "invalidate_at_once", lambda *, delete=(), bump=None: sent.append(set(delete)))
    with transaction.atomic():
        lms_cache.invalidate(delete=["kept"], now=False)
        try:
            with transaction.atomic():
                lms_cache.invalidate(delete=["kept-too"], now=False)  # joins the outer batch
                raise RuntimeError
        except RuntimeError:
            pass
    try:
        with transaction.atomic():
            lms_cache.invalidate(delete=["dropped"], now=False)
            raise RuntimeError
    except RuntimeError:
        pass
    with transaction.atomic():
        lms_cache.invalidate(delete=["next"], now=False)
    # Over-invalidating after a savepoint's rollback is harmless; a whole
    # rolled-back transaction sends nothing.
    assert sent == [{"kept", "kept-too"}, {"next"}]


@pytest.mark.django_db(transaction=True)
def test_inside_atomic_invalidating_at_commit_nothing_is_sent_before_the_commit(monkeypatch) -> None:
    cache.set(progress._dashboard_key(7), "cached")
    with lms_cache.atomic_invalidating_at_commit():
        progress.forget_dashboard(7)
        progress.forget_class_figures(7, 3)
        assert cache.get(progress._dashboard_key(7)) == "cached"
        assert cache.get(progress._student_token_key(7)) is None
    assert cache.get(progress._dashboard_key(7)) is None
    assert cache.get(progress._student_token_key(7)) is not None


@pytest.mark.django_db(transaction=True)
def test_nested_in_an_outer_transaction_invalidations_are_sent_at_once_too() -> None:
    cache.set(progress._dashboard_key(8), "cached")
    with transaction.atomic():
        with lms_cache.atomic_invalidating_at_commit():
            progress.forget_dashboard(8)
        # The outer transaction may read the dashboard: it must not see the old one.
        assert cache.get(progress._dashboard_key(8)) is None


@pytest.mark.redis
def test_the_batch_is_one_pipeline_against_a_real_redis(settings) -> None:
    settings.CACHES = redis_cache(os.environ["REDIS_URL"])
    cache.set("batch-gone", 1, 30)
    cache.set("batch-set", 1, 30)
    lms_cache.invalidate_at_once(delete=["batch-gone"], bump={"batch-set": 30, "batch-forever": None})
    assert cache.get("batch-gone") is None
    assert isinstance(cache.get("batch-set"), int) and cache.get("batch-set") != 1
    assert isinstance(cache.get("batch-forever"), int)
    assert 0 < cache.ttl("batch-set") <= 30 and cache.ttl("batch-forever") is None
    cache.delete_many(["batch-set", "batch-forever"])


@pytest.mark.django_db(transaction=True)
def test_during_a_request_an_answers_writes_wait_for_its_last_redis_call(monkeypatch) -> None:
    """lms.cache.held_for_request: the writes of a transaction run under
    atomic_invalidating_at_commit are held after its commit, for the request
    metrics' call to carry; any other transaction's go at its commit; what
    nobody carried is sent when the request ends."""
    sent: list[set[str]] = []
    monkeypatch.setattr(lms_cache, "invalidate_at_once", lambda *, delete=(), bump=None: sent.append(set(delete)))
    with lms_cache.held_for_request() as held:
        with lms_cache.atomic_invalidating_at_commit():
            lms_cache.invalidate(delete=["answer"])
        assert sent == [] and held.delete == {"answer"}
        with transaction.atomic():
            lms_cache.invalidate(delete=["plain"], now=False)
        assert sent == [{"plain"}]
    assert sent == [{"plain"}, {"answer"}]  # nobody carried it: sent on the way out
    with lms_cache.atomic_invalidating_at_commit():  # outside a request: at the commit
        lms_cache.invalidate(delete=["task"])
    assert sent[-1] == {"task"}


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_held_writes_ride_on_the_metrics_call_and_reach_the_cache(settings) -> None:
    import redis

    from ops import metrics

    settings.CACHES = redis_cache(os.environ["REDIS_URL"])
    store = metrics.RedisStore(os.environ["REDIS_URL"], prefix="test-held-writes")
    cache.set("held-gone", 1, 30)
    try:
        with lms_cache.held_for_request() as held:
            with lms_cache.atomic_invalidating_at_commit():
                lms_cache.invalidate(delete=["held-gone"], bump=["held-set"], bump_timeout=30)
            assert cache.get("held-gone") == 1  # not sent at the commit
            also = held.queue_on(store.client)
            assert also is not None
            store.record(metrics.minute_of(timezone.now()), "POST", "/x/", 3.0, 201, also=also)
            held.clear()
        assert cache.get("held-gone") is None and isinstance(cache.get("held-set"), int)
        base, db = os.environ["REDIS_URL"].rsplit("/", 1)
        other = redis.Redis.from_url(f"{base}/{15 if db != '15' else 14}")  # never sent a command
        with lms_cache.held_for_request() as held:
            with lms_cache.atomic_invalidating_at_commit():
                lms_cache.invalidate(delete=["held-set"])
            assert held.queue_on(other) is None  # another Redis database: not carried
        assert cache.get("held-set") is None  # sent on the way out
    finally:
        store.client.delete(*store.client.keys("test-held-writes:*") or ["none"])
        cache.delete_many(["held-gone", "held-set"])
