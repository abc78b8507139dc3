"""A Redis that answers but refuses degrades the features it serves, like
one that cannot be reached: out of memory under `noeviction`, a read-only
replica after a failover, MISCONF (its snapshots failing), BUSY (a long
script). The live drill of 2026-12-07 (night) found every signed-in page and
API call answering 500 (the refusal is a ResponseError, which the breaker
did not catch). Each test runs its own redis-server (tests/redis_server.py)."""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.core.cache import cache
from django.test import Client
from prometheus_client import REGISTRY
from redis.exceptions import DataError, ResponseError

from analytics import pending
from analytics.models import Event
from lms import cache as lms_cache
from ops import health, metrics, services
from ops.models import HealthProbe, Incident
from tests.learning.study_setup import make_class
from tests.ops.test_health_dependencies import _closed_breaker, redis_cache  # noqa: F401 (a fixture)
from tests.redis_server import REFUSALS

SESSIONS = "/api/v1/study-sessions/"
CALM = {"cpu": {"percent": 10}, "memory": {"percent": 30}, "disk": {"percent": 40}}


def refused_count() -> float:
    return REGISTRY.get_sample_value("lms_cache_redis_errors_total", {"kind": "refused"}) or 0.0


@pytest.fixture
def on_own_redis(settings, own_redis):
    """The cache, the request metrics and the analytics buffer on `own_redis`."""
    settings.CACHES = redis_cache(own_redis.url)
    settings.ANALYTICS_ENABLED = True
    pending.reset_store()  # the default cache's client, now Redis
    store = metrics.RedisStore(own_redis.url, prefix="test-refusals")
    metrics.set_store(store)
    yield own_redis
    pending.reset_store()
    # tests/ops/conftest.py resets the metrics store and the fallback counters.


@pytest.mark.parametrize("mode", list(REFUSALS))
def test_a_refusing_redis_degrades_and_nothing_answers_500(
    mode, on_own_redis, teacher, student, client_for, api_for
) -> None:
    setup = make_class(teacher, [student], cards_per_deck=3)
    browser, api = client_for(student), api_for(student)
    assert browser.get("/").status_code in (200, 302)  # sessions and caches warm on a healthy Redis
    refused_before = refused_count()

    on_own_redis.refuse(mode)

    # A signed-in page, the study loop (throttle, visible decks, held cache
    # writes, the metrics call carrying the events), the probes, the status page.
    assert browser.get("/").status_code in (200, 302)
    started = api.post(SESSIONS, {"scope_type": "deck", "scope_id": setup.decks[0].pk, "mode": "learn"}, format="json")
    assert started.status_code == 201, started.content
    url = f"{SESSIONS}{started.json()['id']}/"
    card = api.get(url + "next/").json()["card"]["id"]
    answered = api.post(url + "answer/", {"card": card, "quality": 4, "idempotency_key": mode}, format="json")
    assert answered.status_code == 201, answered.content
    assert Client().get("/health/live/").status_code == 200
    assert Client().get("/status/").status_code == 200
    assert browser.get("/status/").status_code == 200

    # The answer's events could not be buffered: written at once (read
    # behind the manager's back, which would flush the buffer first).
    names = list(Event._base_manager.filter(user=student).values_list("name", flat=True))
    assert "review_submitted" in names and names.count("api_request") >= 3, names
    # The request metrics went to this process's memory, the answer among them.
    kept = metrics.fallback.drain()
    answers = [agg for (_, method, route), agg in kept.items() if method == "POST" and route.endswith("/answer/")]
    assert [agg.status_codes for agg in answers] == [{"201": 1}]
    # Handled like an outage: the breaker is open, and it was counted.
    assert lms_cache.breaker_open() and refused_count() > refused_before
    lms_cache.reset_breaker()
    lms_cache.invalidate_at_once(bump={"k": 10})  # a pipeline's refusal: handled too
    assert lms_cache.breaker_open()

    # The probe sees it, with Redis's own words, and detection opens the incident.
    result = health.check_cache()
    assert result.status == health.UNHEALTHY and REFUSALS[mode] in result.message, result
    importlib.import_module("ops.migrations.0002_seed_rules_and_schedules").seed(apps, None)
    now = datetime.now(UTC)
    for minutes_ago in (1, 0):
        probe = health.check_cache()
        HealthProbe.objects.create(
            component="cache",
            status=probe.status,
            latency_ms=probe.response_time_ms,
            message=probe.message[:500],
            checked_at=now - timedelta(minutes=minutes_ago),
        )
    assert services.detection_pass(now=now, resources=CALM)["probe-cache"]["action"] == "opened"
    assert Incident.objects.open().filter(rule__slug="probe-cache").exists()


def test_our_own_command_errors_stay_loud_in_tests_and_fall_back_logged_in_production(
    settings, on_own_redis, caplog
) -> None:
    """A wrong key type or argument is a bug of ours, not Redis's state: it
    raises in tests and under DEBUG; in production the feature falls back and
    it is logged as an error, without opening the breaker for everything else."""
    client = lms_cache.raw_client()
    client.rpush(cache.make_key("a-list"), b"x")  # a key of the wrong type for GET
    assert settings.CACHE_RAISE_COMMAND_ERRORS  # the tests' default
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        cache.get("a-list")
    with pytest.raises(DataError):  # refused by redis-py before sending
        lms_cache.guarded(lambda: client.set("k", {"not": "bytes"}), default=None)
    assert not lms_cache.breaker_open()

    settings.CACHE_RAISE_COMMAND_ERRORS = False
    with caplog.at_level(logging.ERROR, logger="lms.cache"):
        assert cache.get("a-list", "fallback") == "fallback"
        assert lms_cache.guarded(lambda: client.set("k", {"not": "bytes"}), default="fallback") == "fallback"
    assert [r.levelno for r in caplog.records if r.name == "lms.cache"] == [logging.ERROR, logging.ERROR]
    assert not lms_cache.breaker_open()
    cache.set("fine", 1)
    assert cache.get("fine") == 1  # everything else still on Redis
