"""A hung Redis (SIGSTOP) under the request metrics: the request whose Redis
call times out is not counted in this process's memory as well, because
Redis runs the queued call when it wakes (redis-server of the test's own,
tests/redis_server.py). The live drill of 2026-12-07 counted it twice."""

from __future__ import annotations

import time

import pytest
from django.db.models import Sum
from django.test import Client

from ops import metrics
from ops.models import RequestMetric

pytestmark = pytest.mark.django_db
ROUTE = "/health/live/"


def counted_in_redis(store: metrics.RedisStore) -> int:
    total = 0
    for key in store.client.scan_iter(f"{store.prefix}:*"):
        if store.client.type(key) == b"hash":
            total += sum(int(v) for f, v in store.client.hgetall(key).items() if f.endswith(b"\x1fc"))
    return total


def test_a_request_whose_metrics_call_timed_out_is_counted_once(own_redis) -> None:
    store = metrics.RedisStore(own_redis.url, prefix="test-hung")
    metrics.set_store(store)
    client = Client()
    for _ in range(3):
        client.get(ROUTE)
    own_redis.pause()
    try:
        started = time.monotonic()
        # The first call times out; the next ones, within REDIS_RETRY_SECONDS,
        # go to this process's memory without trying Redis.
        for _ in range(5):
            assert client.get(ROUTE).status_code == 200
        assert time.monotonic() - started < 2  # one socket timeout, no retries
    finally:
        own_redis.resume()
    deadline = time.monotonic() + 3
    while counted_in_redis(store) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counted_in_redis(store) == 4  # Redis ran the queued call when it woke
    metrics.flush()
    assert RequestMetric.objects.filter(route=ROUTE).aggregate(n=Sum("request_count"))["n"] == 8
