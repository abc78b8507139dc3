"""The Redis cache, failing open and fast.

django-redis with IGNORE_EXCEPTIONS already turns a Redis error into a miss,
but each call still waits for its socket timeout: a page making a dozen cache
calls against a hung Redis would take seconds. Here the first failure opens a
breaker for CACHE_BREAKER_SECONDS, during which every call is a miss (or a
no-op) at once, without touching Redis; then the next call tries again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django_prometheus.cache.backends.redis import RedisCache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# What django-redis re-raises when IGNORE_EXCEPTIONS is off (the cause of its
# ConnectionInterrupted), plus the wrapper itself.
UNREACHABLE = (ConnectionInterrupted, RedisConnectionError, RedisTimeoutError, OSError)

_open_until = 0.0  # per process


def breaker_open() -> bool:
    return time.monotonic() < _open_until


def reset_breaker() -> None:
    global _open_until
    _open_until = 0.0


def _trip(exc: Exception) -> None:
    global _open_until
    _open_until = time.monotonic() + settings.CACHE_BREAKER_SECONDS
    logger.warning("cache unreachable, serving misses for %s s: %s", settings.CACHE_BREAKER_SECONDS, exc)


def guarded(call: Callable[[], Any], *, default: Any) -> Any:
    """Run a call on the raw Redis client under the same breaker: `default`
    at once while it is open, and when the call cannot reach Redis (which
    opens it)."""
    if breaker_open():
        return default
    try:
        return call()
    except UNREACHABLE as exc:
        _trip(exc)
        return default


def _guarded(name: str, fallback: Callable[[tuple, dict], Any]) -> Callable[..., Any]:
    def method(self: FailOpenRedisCache, *args: Any, **kwargs: Any) -> Any:
        if breaker_open():
            return fallback(args, kwargs)
        try:
            return getattr(RedisCache, name)(self, *args, **kwargs)
        except UNREACHABLE as exc:
            _trip(exc)
            return fallback(args, kwargs)

    method.__name__ = name
    return method


def _default(args: tuple, kwargs: dict) -> Any:
    return kwargs.get("default", args[1] if len(args) > 1 else None)


def _computed(args: tuple, kwargs: dict) -> Any:
    value = _default(args, kwargs)
    return value() if callable(value) else value


class FailOpenRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        # Errors come to the guards below (which open the breaker) instead of
        # being swallowed one by one after each socket timeout.
        self._ignore_exceptions = False

    get = _guarded("get", _default)
    get_many = _guarded("get_many", lambda a, k: {})
    get_or_set = _guarded("get_or_set", _computed)
    has_key = _guarded("has_key", lambda a, k: False)
    set = _guarded("set", lambda a, k: False)
    add = _guarded("add", lambda a, k: False)
    set_many = _guarded("set_many", lambda a, k: [])
    touch = _guarded("touch", lambda a, k: False)
    delete = _guarded("delete", lambda a, k: False)
    delete_many = _guarded("delete_many", lambda a, k: 0)
    incr = _guarded("incr", lambda a, k: None)
    decr = _guarded("decr", lambda a, k: None)
    clear = _guarded("clear", lambda a, k: False)


def raw_client() -> Any | None:
    """The default cache's own redis-py client when the cache is Redis, else
    None: for the few hot calls that cannot afford django-redis' key making,
    pickling and wrappers (the status page's version check, the buffered page
    views). Call it under `guarded`."""
    from django.core.cache import caches
    from django_redis.cache import RedisCache as DjangoRedisCache

    cache = caches["default"]
    if not isinstance(cache, DjangoRedisCache):
        return None
    return cache.client.get_client(write=True)
