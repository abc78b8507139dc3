"""DRF's rate throttles with one Redis round trip per request.

DRF keeps each client's request history as a pickled list in the cache: a
GET and a SET (two round trips, the list unpickled and pickled again) on
every API call. On Redis the same sliding window lives in a sorted set and
one Lua script trims it, counts it and adds the request; the answer is the
same as DRF's (a request is refused when `num_requests` fall within the last
`duration` seconds, and `wait()` is DRF's formula, so 429 with Retry-After
is unchanged). Any other cache (the local-memory one of tests and the
embedded default) keeps DRF's own code. A Redis that cannot be reached lets
the request through, like the cache it replaces (lms.cache fails open).

A view that will read a few cache keys anyway (the study loop's visible
decks) names them in `cache_read_ahead_keys()`; the throttle reads them in
its own round trip (a pipeline of the script and an MGET) and leaves what it
found, decoded as the cache would, in `view.cache_read_ahead` (None when
nothing was read: another cache, Redis unreachable, no throttle ran).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.cache import caches
from redis.exceptions import NoScriptError
from rest_framework import throttling

from lms.cache import FailOpenRedisCache, guarded

# KEYS[1] the history; ARGV: now, duration, limit, a unique member.
# Returns {allowed (0/1), requests in the window, the oldest one's time}.
_SLIDING_WINDOW = """
local key, now, duration, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - duration)
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('EXPIRE', key, math.ceil(duration))
  count = count + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2] or ARGV[1]
return {allowed, count, oldest}
"""

_scripts: dict[int, Any] = {}  # per Redis client (one per process and settings)


def _script(client: Any) -> Any:
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_SLIDING_WINDOW)
    return script


def window_key(key: str) -> str:
    """Not DRF's own key: a server upgraded in place still holds pickled
    histories there, and a sorted-set command on them would fail."""
    return f"{key}:window"


class RedisWindowMixin:
    """Replaces SimpleRateThrottle.allow_request/wait when the cache is Redis."""

    def allow_request(self, request: Any, view: Any) -> bool:
        backend = caches["default"]
        if not isinstance(backend, FailOpenRedisCache):
            return super().allow_request(request, view)  # type: ignore[misc]
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        result = guarded(lambda: self._hit(backend, view), default=None)
        if result is None:
            return True  # Redis unreachable: fail open
        allowed, count, oldest = result
        self._count, self._oldest = int(count), float(oldest)
        return bool(allowed)

    def _hit(self, backend: FailOpenRedisCache, view: Any) -> list:
        client = backend.client.get_client(write=True)
        script = _script(client)
        keys = [backend.make_and_validate_key(window_key(self.key))]
        args = [repr(self.now), self.duration, self.num_requests, f"{self.now!r}:{uuid.uuid4().hex[:8]}"]
        wanted = _read_ahead_keys(view)
        if not wanted:
            return script(keys=keys, args=args)
        # EVALSHA by hand: a pipeline given the Script object would first ask
        # SCRIPT EXISTS, a round trip of its own.
        pipe = client.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        pipe.mget([backend.make_and_validate_key(key) for key in wanted])
        result, values = pipe.execute(raise_on_error=False)
        if isinstance(values, Exception):
            raise values
        view.cache_read_ahead = {
            key: backend.client.decode(value) for key, value in zip(wanted, values, strict=True) if value is not None
        }
        if isinstance(result, NoScriptError):  # Redis restarted or flushed its scripts: load it
            return script(keys=keys, args=args)
        if isinstance(result, Exception):
            raise result
        return result

    def wait(self) -> float | None:
        if not hasattr(self, "_count"):
            return super().wait()  # type: ignore[misc]
        # DRF's formula, with the window's length and oldest entry from Redis.
        remaining = self.duration - (self.now - self._oldest) if self._count else self.duration
        available = self.num_requests - self._count + 1
        return remaining / available if available > 0 else None


def _read_ahead_keys(view: Any) -> list[str]:
    """The cache keys the view asks to read with the throttle, once per request."""
    ask = getattr(view, "cache_read_ahead_keys", None)
    if ask is None or getattr(view, "cache_read_ahead", None) is not None:
        return []
    return list(ask())


class AnonRateThrottle(RedisWindowMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(RedisWindowMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(RedisWindowMixin, throttling.ScopedRateThrottle):
    """DRF's scoped throttle sets its rate from the view in allow_request, not
    in __init__: the Redis window needs it set before it counts (without this,
    every request to a scoped view was a 500 on Redis)."""

    def allow_request(self, request: Any, view: Any) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
