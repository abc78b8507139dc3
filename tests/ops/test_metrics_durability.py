"""Request counters survive an outage of Redis or of the database: they leave
their store only after the database write has committed."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.db.models import Sum
from prometheus_client import REGISTRY

from ops import metrics
from ops.models import HealthProbe, RequestMetric
from tests.ports import closed_port

CLOSED_REDIS = f"redis://127.0.0.1:{closed_port()}/0"  # nothing listens there


def stored(route: str) -> int:
    return RequestMetric.objects.filter(route=route).aggregate(n=Sum("request_count"))["n"] or 0


def failing_write(*args: object, **kwargs: object) -> int:
    raise OperationalError("connection to server at 127.0.0.1 refused")


def test_a_failed_database_write_keeps_the_memory_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    for status in (200, 500, 500):
        metrics.record("GET", "/mem/", 5, status)
    with monkeypatch.context() as patch:
        patch.setattr(metrics, "write_aggregates", failing_write)
        with pytest.raises(OperationalError):
            metrics.flush()
    metrics.record("GET", "/mem/", 5, 200)
    metrics.flush()
    row = RequestMetric.objects.get(route="/mem/")
    assert (row.request_count, row.server_errors) == (4, 2)
    metrics.flush()
    assert stored("/mem/") == 4  # written once


def test_with_redis_unreachable_each_process_keeps_its_counters_in_memory() -> None:
    metrics.set_store(metrics.RedisStore(CLOSED_REDIS, prefix=f"test-ops:{uuid.uuid4().hex}"))
    for _ in range(120):
        metrics.record("GET", "/outage/", 3, 500)
    assert metrics.fallback.has_data()
    metrics.flush()  # Redis still down: the flush writes what this process kept
    row = RequestMetric.objects.get(route="/outage/")
    assert (row.request_count, row.server_errors) == (120, 120)
    assert not metrics.fallback.has_data()


def test_the_hot_path_writes_its_kept_counters_once_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics.set_store(metrics.RedisStore(CLOSED_REDIS, prefix=f"test-ops:{uuid.uuid4().hex}"))
    metrics.record("GET", "/hot/", 3, 200)
    assert metrics.flush_local_if_due() == 0  # not a minute yet
    monkeypatch.setattr(metrics.fallback, "_last_flush", 0.0)
    with monkeypatch.context() as patch:
        patch.setattr(metrics, "write_aggregates", failing_write)
        assert metrics.flush_local_if_due() == 0  # database down too: never raises
    assert metrics.fallback.has_data() and stored("/hot/") == 0
    monkeypatch.setattr(metrics.fallback, "_last_flush", 0.0)
    assert metrics.flush_local_if_due() == 1
    assert stored("/hot/") == 1


@pytest.mark.redis
def test_redis_counters_stay_in_redis_until_the_database_write_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    store = metrics.store()
    assert isinstance(store, metrics.RedisStore)
    for _ in range(7):
        metrics.record("POST", "/redis/", 9, 500)
    with monkeypatch.context() as patch:
        patch.setattr(metrics, "write_aggregates", failing_write)
        with pytest.raises(OperationalError):
            metrics.flush()
    assert store.client.scard(store._taken_key()) == 1  # set aside, not deleted
    assert store.client.get(store._lock_key()) is None  # and the lock released
    for _ in range(3):
        metrics.record("POST", "/redis/", 9, 200)
    metrics.flush()
    row = RequestMetric.objects.get(route="/redis/")
    assert (row.request_count, row.server_errors) == (10, 7)
    assert store.client.scard(store._taken_key()) == 0
    metrics.flush()
    assert stored("/redis/") == 10


@pytest.mark.redis
def test_only_one_flush_takes_the_counters_at_a_time() -> None:
    store = metrics.store()
    assert isinstance(store, metrics.RedisStore)
    metrics.record("GET", "/lock/", 1, 200)
    first = store.take()
    assert first is not None and sum(a.count for c in first[0].values() for a in c.values()) == 1
    assert store.take() is None  # a second flush meanwhile finds the lock
    assert metrics.flush() == 0
    store.release(list(first[0]), first[1], written=True)
    assert store.take() == ({}, store.client.get(store._lock_key()).decode())


class Killed(BaseException):
    """The flush's process dies (SIGKILL, OOM): nothing after it runs."""


@pytest.mark.redis
def test_a_flush_killed_between_the_commit_and_the_delete_is_replayed_as_a_no_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = metrics.store()
    assert isinstance(store, metrics.RedisStore)
    for _ in range(7):
        metrics.record("GET", "/killed/", 4, 200)

    def killed(*args: object, **kwargs: object) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(metrics.RedisStore, "release", killed)
        with pytest.raises(Killed):
            metrics.flush()
    assert stored("/killed/") == 7  # committed
    assert store.client.scard(store._taken_key()) == 1  # but still in Redis
    store.client.delete(store._lock_key())  # the dead flush's lock expires
    metrics.record("GET", "/killed/", 4, 500)  # recorded meanwhile: counted once too
    metrics.flush()
    assert stored("/killed/") == 8
    assert store.client.scard(store._taken_key()) == 0  # the replayed key is gone now
    metrics.flush()
    assert stored("/killed/") == 8


def test_a_snapshot_written_twice_is_counted_once() -> None:
    minute = metrics.minute_of(datetime.now(UTC))
    counters = metrics.Aggregate()
    for _ in range(3):
        counters.add(5.0, 200)
    snapshot = {"ops:metrics:1:taken:a": {(minute, "GET", "/twice/"): counters}}
    assert metrics.write_snapshots(snapshot) == 1
    assert metrics.write_snapshots(snapshot) == 0  # the replay
    other = {"ops:metrics:1:taken:b": {(minute, "GET", "/twice/"): counters}}
    assert metrics.write_snapshots(snapshot | other) == 1  # only the new snapshot is added
    assert stored("/twice/") == 6


def test_snapshot_records_are_kept_past_the_taken_keys_week() -> None:
    from ops.models import RequestMetricFlush

    now = datetime.now(UTC)
    old = RequestMetricFlush.objects.create(
        key="old", flushed_at=now - timedelta(days=metrics.FLUSH_RECORD_DAYS, hours=1)
    )
    recent = RequestMetricFlush.objects.create(key="recent", flushed_at=now - timedelta(days=7, hours=23))
    assert metrics.flushes_delete_expired(now=now) == 1
    assert list(RequestMetricFlush.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not RequestMetricFlush.objects.filter(pk=old.pk).exists()


@pytest.mark.redis
def test_counts_through_a_redis_outage_equal_what_was_sent() -> None:
    real = metrics.store()
    minute = datetime.now(UTC)
    for _ in range(10):
        metrics.record("GET", "/drill/", 2, 200, now=minute)
    metrics.set_store(metrics.RedisStore(CLOSED_REDIS, prefix=real.prefix))  # Redis goes away
    for _ in range(5):
        metrics.record("GET", "/drill/", 2, 500, now=minute)
    metrics.set_store(real)  # Redis is back (after the pause)
    metrics._paused_until = 0.0
    for _ in range(3):
        metrics.record("GET", "/drill/", 2, 200, now=minute)
    metrics.flush()
    row = RequestMetric.objects.get(route="/drill/")
    assert (row.request_count, row.server_errors) == (18, 5)


def flush_failures(kind: str) -> float:
    labels = {"step": "flush", "kind": kind}
    return REGISTRY.get_sample_value("lms_request_metrics_redis_failures_total", labels) or 0.0


def test_a_redis_out_of_memory_keeps_every_request_counted_once(own_redis, caplog) -> None:
    """maxmemory with noeviction: Redis refuses the hot path's script and the
    flush's lock. What it holds stays there, untouched; what it refuses is
    counted in this process's memory and written by the flush; nothing twice."""
    store = metrics.RedisStore(own_redis.url, prefix="test-ops")
    metrics.set_store(store)
    for _ in range(3):
        metrics.record("GET", "/oom/", 2, 200)
    own_redis.refuse("oom")
    before = flush_failures("refused")
    for _ in range(2):
        metrics.record("GET", "/oom/", 2, 500)
    assert metrics.fallback.has_data()
    metrics.flush()
    assert stored("/oom/") == 2  # this process's own, from memory
    assert not metrics.fallback.has_data()  # memory does not grow with the outage
    assert flush_failures("refused") == before + 1
    assert "could not take the request metrics from Redis (refused: OOM)" in caplog.text
    own_redis.accept()
    metrics.flush()
    row = RequestMetric.objects.get(route="/oom/")
    assert (row.request_count, row.server_errors) == (5, 2)
    metrics.flush()
    assert stored("/oom/") == 5


def test_redis_running_out_of_memory_during_a_flush_loses_no_counters(own_redis, monkeypatch) -> None:
    """The lock taken, then Redis full before the minutes are moved aside:
    each minute is moved and listed whole, or not at all. (A hash renamed
    but not listed was found by no flush: its counters were lost.)"""
    store = metrics.RedisStore(own_redis.url, prefix="test-ops")
    metrics.set_store(store)
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    for minute, count in ((first, 3), (first + timedelta(minutes=1), 2)):
        for _ in range(count):
            metrics.record("GET", "/oom-flush/", 2, 200, now=minute)
    take_lock = store.client.set

    def lock_then_fill_up(*args: object, **kwargs: object) -> object:
        taken = take_lock(*args, **kwargs)
        own_redis.refuse("oom")
        return taken

    with monkeypatch.context() as patch:
        patch.setattr(store.client, "set", lock_then_fill_up)
        metrics.flush()  # refused: logged, counted, nothing taken
    assert stored("/oom-flush/") == 0
    assert store.client.get(store._lock_key()) is None  # the lock released
    own_redis.accept()
    metrics.flush()
    assert stored("/oom-flush/") == 5
    assert not list(store.client.scan_iter("test-ops:*:taken:*"))


def test_detect_incidents_probe_survives_a_redis_outage(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.set_store(metrics.RedisStore(CLOSED_REDIS, prefix=f"test-ops:{uuid.uuid4().hex}"))
    metrics.record("GET", "/cron/", 1, 200)
    call_command("detect_incidents", "--probe")
    assert HealthProbe.objects.count() == 5
    assert stored("/cron/") == 1


def test_detect_incidents_probe_with_the_database_down_fails_cleanly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops import services

    metrics.record("GET", "/cron/", 1, 200)
    with monkeypatch.context() as patch:
        patch.setattr(metrics, "write_aggregates", failing_write)
        patch.setattr(HealthProbe.objects, "bulk_create", failing_write)
        patch.setattr(services, "detection_pass", failing_write)
        with pytest.raises(CommandError, match="database is unavailable"):
            call_command("detect_incidents", "--probe")
    err = capsys.readouterr().err
    assert "probes not stored" in err and "not flushed" in err
    metrics.flush()  # the database is back: the counter was kept
    assert stored("/cron/") == 1


def test_fallback_store_redis_url_is_really_closed() -> None:
    # Guard for the tests above: a server on that port would make them pass vacuously.
    import socket

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 8129), timeout=0.5).close()
    assert os.environ.get("REDIS_URL", "") != CLOSED_REDIS
