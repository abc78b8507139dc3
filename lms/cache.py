"""The Redis cache, failing open and fast.

django-redis with IGNORE_EXCEPTIONS already turns a Redis error into a miss,
but each call still waits for its socket timeout: a page making a dozen cache
calls against a hung Redis would take seconds. Here the first failure opens a
breaker for CACHE_BREAKER_SECONDS, during which every call is a miss (or a
no-op) at once, without touching Redis; then the next call tries again.

A Redis that answers but refuses (out of memory under `noeviction`, a
read-only replica after a failover, MISCONF when its snapshots fail, BUSY
running a long script, LOADING its dataset) is treated the same way: the
feature falls back and the breaker opens, since while its writes are refused
its reads may serve entries whose invalidation it just refused. Any other
error it answers (a wrong command, argument or key type: our own code's
mistake) raises under DEBUG and in tests (`CACHE_RAISE_COMMAND_ERRORS`), and
in production falls back too, logged as an error, without opening the
breaker. Each kind is counted in `lms_cache_redis_errors_total`.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django_prometheus.cache.backends.redis import RedisCache
from django_redis.exceptions import ConnectionInterrupted
from prometheus_client import Counter
from redis.exceptions import (
    ClusterDownError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# What django-redis re-raises when IGNORE_EXCEPTIONS is off (the cause of its
# ConnectionInterrupted), plus the wrapper itself. CAUGHT adds whatever else
# redis-py raises (its ResponseError too: a live Redis's error answer), sorted
# by `_kind`.
UNREACHABLE = (ConnectionInterrupted, RedisConnectionError, RedisTimeoutError, OSError)
CAUGHT = (*UNREACHABLE, RedisError)

# The codes a live Redis answers with when it cannot do this for us right now
# (its state, not the command): out of memory, a read-only replica, failing
# persistence, a long script, loading, no primary or replicas, permissions
# taken away. LOADING comes as BusyLoadingError, a ConnectionError, already.
REFUSALS = frozenset(
    {"OOM", "READONLY", "MISCONF", "BUSY", "LOADING", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN", "NOPERM"}
)
_PIPELINE_MARK = "of pipeline caused error: "

redis_errors = Counter(
    "lms_cache_redis_errors_total",
    "Redis calls on the request path that failed and fell back, by kind: unreachable (connection, "
    "timeout), refused (a live Redis refusing: OOM, READONLY, MISCONF, BUSY...), command (any other answer)",
    ["kind"],
)


def error_code(exc: BaseException) -> str:
    """The code of a Redis error answer ("OOM", "READONLY", "MISCONF", "ERR",
    "WRONGTYPE"...): redis-py keeps it apart for the answers it maps to a
    class of its own and leaves it in the message otherwise (a pipeline's
    error is prefixed with the command that caused it)."""
    code = getattr(exc, "status_code", None)
    if code:
        return str(code)
    text = str(exc.args[0]) if exc.args else ""
    if _PIPELINE_MARK in text:
        text = text.split(_PIPELINE_MARK, 1)[1]
    return text.split(" ", 1)[0]


def _cause(exc: BaseException) -> BaseException:
    """What redis-py raised, under django-redis' ConnectionInterrupted."""
    if isinstance(exc, ConnectionInterrupted) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def _kind(exc: BaseException) -> str:
    """ "unreachable", "refused" (a live Redis cannot do it now) or "command"
    (any other error: ours to fix)."""
    cause = _cause(exc)
    if isinstance(cause, (RedisConnectionError, RedisTimeoutError, OSError)):
        return "unreachable"
    if isinstance(cause, (OutOfMemoryError, ReadOnlyError, NoPermissionError, ClusterDownError, TryAgainError)):
        return "refused"
    if isinstance(cause, ResponseError) and error_code(cause) in REFUSALS:
        return "refused"
    if isinstance(cause, RedisError):
        return "command"  # ERR, WRONGTYPE..., or refused before sending (DataError)
    return "unreachable"  # a ConnectionInterrupted without its cause


_open_until = 0.0  # per process


def breaker_open() -> bool:
    return time.monotonic() < _open_until


def reset_breaker() -> None:
    global _open_until
    _open_until = 0.0


def _trip(exc: Exception, why: str = "unreachable") -> None:
    global _open_until
    _open_until = time.monotonic() + settings.CACHE_BREAKER_SECONDS
    logger.warning("cache %s, serving misses for %s s: %s", why, settings.CACHE_BREAKER_SECONDS, exc)


def _failed(exc: Exception) -> None:
    """A Redis call failed: count it, and open the breaker when Redis cannot
    serve us (unreachable, or refusing); a command error raises under DEBUG
    and in tests (CACHE_RAISE_COMMAND_ERRORS), and is logged as an error
    otherwise."""
    kind = _kind(exc)
    redis_errors.labels(kind=kind).inc()
    if kind == "unreachable":
        _trip(exc)
    elif kind == "refused":
        _trip(exc, f"refused by Redis ({error_code(_cause(exc))})")
    elif getattr(settings, "CACHE_RAISE_COMMAND_ERRORS", False):
        raise exc
    else:
        logger.error("a cache command failed on Redis (falling back): %s", exc, exc_info=exc)


def guarded(call: Callable[[], Any], *, default: Any) -> Any:
    """Run a call on the raw Redis client under the same breaker: `default`
    at once while it is open, and when the call fails (see `_failed`: an
    unreachable or refusing Redis opens it)."""
    if breaker_open():
        return default
    try:
        return call()
    except CAUGHT as exc:
        _failed(exc)
        return default


def _guarded(name: str, fallback: Callable[[tuple, dict], Any]) -> Callable[..., Any]:
    def method(self: FailOpenRedisCache, *args: Any, **kwargs: Any) -> Any:
        if breaker_open():
            return fallback(args, kwargs)
        try:
            return getattr(RedisCache, name)(self, *args, **kwargs)
        except CAUGHT as exc:
            _failed(exc)
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


def write_many(*, delete: Collection[str] = (), values: Mapping[str, tuple[Any, int | None]] | None = None) -> None:
    """Delete `delete` and set `values` (key -> (value, timeout): seconds, a
    positive number, or None for no expiry) in the default cache: one round
    trip on Redis (a pipeline, under the breaker), one call for each kind
    elsewhere (the tests' local memory)."""
    values = values or {}
    if not delete and not values:
        return
    backend = caches["default"]
    if not isinstance(backend, FailOpenRedisCache):
        if delete:
            backend.delete_many(list(delete))
        for key, (value, timeout) in values.items():
            backend.set(key, value, timeout)
        return

    def send() -> None:
        # The raw client's pipeline without MULTI/EXEC (each write stands on
        # its own).
        pipe = backend.client.get_client(write=True).pipeline(transaction=False)
        _queue_writes(pipe, backend, delete, values)
        pipe.execute()

    guarded(send, default=None)


def _queue_writes(
    pipe: Any, backend: FailOpenRedisCache, delete: Collection[str], values: Mapping[str, tuple[Any, int | None]]
) -> None:
    """DEL and SET on a redis-py pipeline, keys and values made and encoded as django-redis does."""
    client = backend.client
    if delete:
        pipe.delete(*(client.make_key(key) for key in delete))
    for key, (value, timeout) in values.items():
        pipe.set(client.make_key(key), client.encode(value), px=None if timeout is None else int(timeout * 1000))


class CommitWrites:
    """The cache writes one transaction asks for after its commit, sent
    together in one round trip (an answer used to make one cache call per
    kind of invalidation, each twice). `notes` holds what callers remember
    for the rest of the transaction."""

    def __init__(self, position: int, *, may_wait: bool = False) -> None:
        self.delete: set[str] = set()
        self.values: dict[str, tuple[Any, int | None]] = {}
        self.notes: dict[str, Any] = {}
        self.position = position  # where this callback sits in the connection's on-commit list
        self.may_wait = may_wait  # for the request's last Redis call (see `held_for_request`)

    def __call__(self) -> None:
        held = _held.get()
        if self.may_wait and held is not None:
            held.delete.update(self.delete)
            held.values.update(self.values)
            return
        write_many(delete=self.delete, values=self.values)


class HeldWrites:
    """After-commit cache writes held until the request's last Redis call."""

    def __init__(self) -> None:
        self.delete: set[str] = set()
        self.values: dict[str, tuple[Any, int | None]] = {}

    def __bool__(self) -> bool:
        return bool(self.delete or self.values)

    def queue_on(self, client: Any) -> Callable[[Any], None] | None:
        """A function that adds these writes to a pipeline of `client`, when
        `client` talks to the default cache's Redis server and database; else None."""
        backend = caches["default"]
        if not self or not isinstance(backend, FailOpenRedisCache) or breaker_open():
            return None
        mine = backend.client.get_client(write=True).connection_pool.connection_kwargs
        theirs = client.connection_pool.connection_kwargs
        if any(mine.get(k, 0 if k == "db" else None) != theirs.get(k, 0 if k == "db" else None) for k in _WHERE):
            return None
        return lambda pipe: _queue_writes(pipe, backend, self.delete, self.values)

    def send(self) -> None:
        write_many(delete=self.delete, values=self.values)
        self.clear()

    def clear(self) -> None:
        self.delete, self.values = set(), {}


_WHERE = ("host", "port", "path", "db")
_held: contextvars.ContextVar[HeldWrites | None] = contextvars.ContextVar("lms_cache_held_writes", default=None)


@contextmanager
def held_for_request() -> Iterator[HeldWrites]:
    """While a request runs: the after-commit writes of its transactions run
    under `atomic_invalidating_at_commit` (an answer) are kept here instead of
    being sent, so that the request's last Redis call (the request metrics,
    ops.middleware) carries them: a round trip fewer. They are still sent
    after the commit and before the response leaves; others may read the old
    entries for the rest of the request (a few milliseconds), as they may
    between any commit and its invalidation. Whatever the caller did not
    send is sent on the way out."""
    held = HeldWrites()
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)
        if held:
            held.send()


def current_commit_writes() -> CommitWrites | None:
    """This transaction's batch, if it has one (a rollback drops it with the
    callbacks registered after its savepoint)."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    batch: CommitWrites | None = getattr(connection, "cache_commit_writes", None)
    pending = connection.run_on_commit
    if batch is None or batch.position >= len(pending) or pending[batch.position][1] is not batch:
        return None
    return batch


def commit_writes() -> CommitWrites:
    """This transaction's batch of after-commit cache writes, registered with
    `transaction.on_commit` on first use. Only inside a transaction."""
    batch = current_commit_writes()
    if batch is None:
        connection = transaction.get_connection()
        batch = connection.cache_commit_writes = CommitWrites(
            len(connection.run_on_commit), may_wait=getattr(connection, "cache_writes_deferred", False)
        )
        transaction.on_commit(batch)
    return batch


def write_after_commit(
    *, delete: Collection[str] = (), values: Mapping[str, tuple[Any, int | None]] | None = None
) -> None:
    """Cache writes for after this transaction's commit, together with the
    others it asks for; at once outside a transaction."""
    if not transaction.get_connection().in_atomic_block:
        write_many(delete=delete, values=values)
        return
    batch = commit_writes()
    batch.delete.update(delete)
    batch.values.update(values or {})


def invalidate_now() -> bool:
    """Whether an invalidation should also be sent at once, before the
    commit: yes, except inside `atomic_invalidating_at_commit`."""
    return not getattr(transaction.get_connection(), "cache_writes_deferred", False)


@contextmanager
def atomic_invalidating_at_commit() -> Iterator[None]:
    """`transaction.atomic()` for a whole transaction that reads no cached
    figure after writing (an answer): the invalidations its writes ask for are
    sent once, after the commit, not also at once. The immediate ones exist
    for a read later in the same transaction, which sees its own uncommitted
    rows; others see the old rows until the commit whatever the cache holds.
    Nested in an outer transaction, it changes nothing (the outer one may
    read)."""
    connection = transaction.get_connection()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        previous = getattr(connection, "cache_writes_deferred", False)
        connection.cache_writes_deferred = previous or outermost
        try:
            yield
        finally:
            connection.cache_writes_deferred = previous


def raw_client() -> Any | None:
    """The default cache's own redis-py client when the cache is Redis, else
    None: for the few hot calls that cannot afford django-redis' key making,
    pickling and wrappers (the status page's version check, the buffered page
    views). Call it under `guarded`."""
    from django_redis.cache import RedisCache as DjangoRedisCache

    cache = caches["default"]
    if not isinstance(cache, DjangoRedisCache):
        return None
    return cache.client.get_client(write=True)
