"""The Redis throttles answer exactly as DRF's own, in one round trip a request."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.core.cache import caches
from rest_framework import throttling as drf
from rest_framework.test import APIRequestFactory, force_authenticate

from lms import throttling
from lms.cache import FailOpenRedisCache
from tests.factories import UserFactory

pytestmark = pytest.mark.redis

ME_URL = "/api/v1/auth/me/"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def throttle_of(cls: type, clock: Clock) -> Any:
    class Throttled(cls):
        THROTTLE_RATES = {"user": "4/minute"}
        timer = clock

    return Throttled()


def test_decisions_and_waits_equal_drfs_own_on_the_same_requests(real_redis: None, settings: Any) -> None:
    """Both throttles see the same request times (bursts, gaps, a window
    sliding past): every allow/refuse and every Retry-After is the same."""
    user = UserFactory()
    request = APIRequestFactory().get(ME_URL)
    force_authenticate(request, user)
    request.user = user
    drf_clock, redis_clock = Clock(), Clock()
    steps = [0, 1, 1, 2, 3, 5, 20, 59, 61, 61.5, 62, 65, 121, 121, 122, 200, 200.1, 200.2, 200.3, 200.4]
    ours, theirs = [], []
    local = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "drf-reference"}}
    for at in steps:
        redis_clock.now = drf_clock.now = 1_000_000.0 + at
        mine = throttle_of(throttling.UserRateThrottle, redis_clock)
        ours.append((mine.allow_request(request, None), round(mine.wait() or 0, 6)))
        settings.CACHES, saved = local, settings.CACHES
        reference = throttle_of(drf.UserRateThrottle, drf_clock)
        theirs.append((reference.allow_request(request, None), round(reference.wait() or 0, 6)))
        settings.CACHES = saved
    assert ours == theirs
    backend = caches["default"]
    history = backend.make_and_validate_key(throttling.window_key(mine.key))
    assert backend.client.get_client().type(history) == b"zset"  # ours did go through Redis
    assert [allowed for allowed, _ in ours].count(False) >= 5  # the sequence does hit the limit


def test_a_history_left_by_drfs_throttle_is_not_in_the_way(real_redis: None, api_for: Any, student: Any) -> None:
    """After an upgrade in place Redis still holds DRF's pickled lists."""
    caches["default"].set(f"throttle_user_{student.pk}", [1.0, 2.0], 60)
    assert api_for(student).get(ME_URL).status_code == 200


def test_a_throttled_api_call_is_429_with_retry_after_after_one_redis_call_each(
    real_redis: None, api_for: Any, student: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(
        drf.UserRateThrottle, "THROTTLE_RATES", {**drf.UserRateThrottle.THROTTLE_RATES, "user": "3/minute"}
    )
    commands: list[str] = []
    real = redis.Redis.execute_command

    def counted(self: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        if any("throttle_" in str(arg) for arg in args):
            commands.append(str(args[0]))
        return real(self, *args, **kwargs)

    client = api_for(student)
    assert client.get(ME_URL).status_code == 200  # the first loads the script into Redis
    monkeypatch.setattr(redis.Redis, "execute_command", counted)
    statuses = [client.get(ME_URL).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert commands == ["EVALSHA"] * 3  # no GET + SET of a pickled history
    response = client.get(ME_URL)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "throttled"
    assert response.json()["error"]["details"]["retry_after"] == int(response["Retry-After"])


class ReadingView:
    """A view that asks the throttle to read two cache keys ahead."""

    cache_read_ahead = None

    def cache_read_ahead_keys(self) -> list[str]:
        return ["ahead:number", "ahead:tuple", "ahead:missing"]


def test_keys_read_ahead_ride_on_the_throttles_call_and_decisions_stay_drfs(real_redis: None, monkeypatch: Any) -> None:
    user = UserFactory()
    request = APIRequestFactory().get(ME_URL)
    request.user = user
    backend = caches["default"]
    backend.set("ahead:number", 7)
    backend.set("ahead:tuple", ("gen", frozenset({1, 2}), frozenset()))
    clock = Clock()
    sent: list[int] = []
    real = redis.client.Pipeline.execute

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(len(self.command_stack))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    decisions = []
    for at in (0, 1, 2, 3, 4):
        clock.now = 1_000_000.0 + at
        view = ReadingView()
        decisions.append(throttle_of(throttling.UserRateThrottle, clock).allow_request(request, view))
        # Read as the cache reads them; a missing key is absent.
        assert view.cache_read_ahead == {"ahead:number": 7, "ahead:tuple": ("gen", frozenset({1, 2}), frozenset())}
    assert decisions == [True, True, True, True, False]  # 4/minute, as DRF decides
    assert sent == [2] * 5  # one round trip each: the script and the MGET


def test_a_script_missing_from_redis_is_loaded_and_the_keys_still_read(real_redis: None) -> None:
    """Redis restarted or flushed its scripts: the pipeline's EVALSHA fails alone."""
    user = UserFactory()
    request = APIRequestFactory().get(ME_URL)
    request.user = user
    caches["default"].set("ahead:number", 7)
    script = throttling._script(caches["default"].client.get_client(write=True))
    script.sha = "0" * 40  # as if Redis no longer knew it
    view = ReadingView()
    throttle = throttle_of(throttling.UserRateThrottle, Clock())
    assert throttle.allow_request(request, view) is True
    assert throttle._count == 1 and view.cache_read_ahead == {"ahead:number": 7}
    assert script.sha != "0" * 40  # loaded again


def test_a_scoped_throttle_counts_on_redis_and_answers_429(
    real_redis: None, api_for: Any, student: Any, monkeypatch: Any
) -> None:
    """The browser's events (scope "events") went through RedisWindowMixin
    before DRF's scoped throttle had set its rate: every one was a 500."""
    assert type(caches["default"]) is FailOpenRedisCache
    rates = {**throttling.ScopedRateThrottle.THROTTLE_RATES, "events": "2/minute"}
    monkeypatch.setattr(throttling.ScopedRateThrottle, "THROTTLE_RATES", rates)
    api = api_for(student)
    batch = {"events": [{"name": "card_flipped", "properties": {}}]}
    assert [api.post("/api/v1/analytics/events/", batch, format="json").status_code for _ in range(3)] == [
        201,
        201,
        429,
    ]
