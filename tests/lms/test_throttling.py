"""The Redis throttles answer exactly as DRF's own, in one round trip a request."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import redis
from django.core.cache import caches
from rest_framework import throttling as drf
from rest_framework.test import APIRequestFactory, force_authenticate

from lms import throttling
from tests.factories import UserFactory

pytestmark = pytest.mark.redis

ME_URL = "/api/v1/auth/me/"


@pytest.fixture
def real_redis(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "lms.cache.FailOpenRedisCache",
            "LOCATION": os.environ.get("REDIS_URL", ""),
            "KEY_PREFIX": f"lms-test-{uuid.uuid4().hex}",  # nobody else's counters
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        }
    }
    yield
    caches["default"].clear()


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
