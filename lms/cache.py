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

Falling back is right for reads and for writes of fresh values (a dropped
write is a miss later), not for invalidations: a delete or a generation bump
this process could not send leaves the old entry in Redis, where every other
process (its breaker closed) keeps serving it. So invalidations go through
one API, `invalidate(delete=[...], bump=[...])` (a bump gives a key such as a
generation token a new random value), and what cannot be sent (the breaker
open, Redis unreachable or refusing) is kept per process (`_unsent`: deletes
deduplicated, bumps coalesced, at most CACHE_UNSENT_MAX keys) and sent before
anything else by the first call of this process that reaches Redis again, so
this process never reads, and no other process keeps serving for longer, an
entry whose invalidation it owes. The backend's own `delete` and
`delete_many` keep what they could not send the same way (a delete is always
an invalidation); a `set` is not, so bumps must say so. Past the bound the
record collapses into "delete every key of this cache" (`_send_unsent`).

What is still open, bounded rather than closed:
- until the owing process's breaker closes and it makes a cache call (a few
  seconds on a busy worker), others may serve the stale entry;
- a process that exits owing invalidations tries them once more, ignoring
  the breaker (`_exiting`, run by lms.process_exit: a gunicorn worker recycled
  or stopped, a Celery pool process recycled or stopped with its pool); one
  that Redis still fails then, or that is killed, loses them: the entries
  live until their own timeout. The
  permission-relevant ones are short for that reason: the visible decks
  (VISIBLE_DECKS_CACHE_SECONDS) and the session's user
  (AUTH_USER_CACHE_SECONDS), five minutes by default;
- a Redis emptied meanwhile (restart, failover to an empty replica) lost the
  stale entries too: sending the record then is harmless.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import threading
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

from lms import process_exit

logger = logging.getLogger(__name__)

# What django-redis re-raises when IGNORE_EXCEPTIONS is off (the cause of its
# ConnectionInterrupted), plus the wrapper itself. CAUGHT adds whatever else
# redis-py raises (its ResponseError too: a live Redis's error answer), sorted
# by `failure_kind`.
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
unsent_invalidations = Counter(
    "lms_cache_unsent_invalidations_total",
    "Cache invalidations (keys to delete or bump) this process could not send, by what became of them: "
    "kept (to send when Redis answers again), sent (later), overflowed (past CACHE_UNSENT_MAX: the whole "
    "cache deleted instead), lost (the process exited owing them)",
    ["outcome"],
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


def failure_kind(exc: BaseException) -> str:
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
    kind = failure_kind(exc)
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
    if not _reach():
        return default
    try:
        return call()
    except CAUGHT as exc:
        _failed(exc)
        return default


def _guarded(name: str, fallback: Callable[[tuple, dict], Any]) -> Callable[..., Any]:
    def method(self: FailOpenRedisCache, *args: Any, **kwargs: Any) -> Any:
        if not _reach():
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


def _version_given(args: tuple, kwargs: dict) -> bool:
    return (args[1] if len(args) > 1 else kwargs.get("version")) is not None


def _dropped_delete(args: tuple, kwargs: dict) -> bool:
    # Kept to send later (module docstring). A versioned key, which nothing
    # here asks for, would be remade with the default version: not kept.
    if not _version_given(args, kwargs):
        _unsent.keep(delete=[args[0] if args else kwargs["key"]])
    return False


def _dropped_delete_many(args: tuple, kwargs: dict) -> int:
    if not _version_given(args, kwargs):
        _unsent.keep(delete=list(args[0] if args else kwargs["keys"]))
    return 0


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
    delete = _guarded("delete", _dropped_delete)
    delete_many = _guarded("delete_many", _dropped_delete_many)
    incr = _guarded("incr", lambda a, k: None)
    decr = _guarded("decr", lambda a, k: None)
    clear = _guarded("clear", lambda a, k: False)


# --- Invalidations -------------------------------------------------------------------


def new_token() -> int:
    """A bumped key's new value: random, so that no two bumps (nor a value set
    before) agree by chance, and an integer, which django-redis stores as such
    and a reader that keeps a number (the status page's version) reads as one."""
    return secrets.randbits(62) + 1


class Unsent:
    """The invalidations this process owes Redis (see the module docstring):
    keys to delete, deduplicated, and keys to bump with their timeouts, a key
    bumped twice needing one new value; `overflowed` once they passed
    CACHE_UNSENT_MAX keys."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delete: set[str] = set()
        self.bump: dict[str, int | None] = {}
        self.overflowed = False

    def __bool__(self) -> bool:
        return self.overflowed or bool(self.delete) or bool(self.bump)

    def __len__(self) -> int:
        return len(self.delete) + len(self.bump)

    def keep(self, *, delete: Collection[str] = (), bump: Mapping[str, int | None] | None = None) -> None:
        with self.lock:
            if self.overflowed:
                return
            before = len(self)
            self.bump.update(bump or {})
            # A key both deleted and bumped is bumped: a new value makes stale
            # every entry stamped with the old one, even one stamped with "no
            # token" (the None a reader finds after a delete).
            self.delete.difference_update(self.bump)
            self.delete.update(key for key in delete if key not in self.bump)
            if len(self) <= settings.CACHE_UNSENT_MAX:
                unsent_invalidations.labels(outcome="kept").inc(len(self) - before)
                return
            # Past the bound a process would hold ever more memory for an
            # outage that may last: it keeps one bit instead, "delete every
            # key of this cache" (`_send_unsent`), coarse but still correct.
            self.overflowed = True
            self.clear_locked()
            unsent_invalidations.labels(outcome="overflowed").inc()
            logger.error(
                "more than %s cache invalidations unsent: every key of the cache will be deleted when Redis answers",
                settings.CACHE_UNSENT_MAX,
            )

    def clear_locked(self) -> None:
        self.delete, self.bump = set(), {}

    def reset_locked(self) -> None:
        """Owe nothing (sent, or dropped), the overflow included."""
        self.clear_locked()
        self.overflowed = False

    def forget(self) -> None:
        """Drop the record (tests, between cases)."""
        with self.lock:
            self.reset_locked()


_unsent = Unsent()  # per process
_FLUSH_BATCH = 1000


def _flush_namespace(backend: FailOpenRedisCache) -> int:
    """Delete every key of this cache (its KEY_PREFIX and version), in batches:
    what Redis would do evicting them all, which every reader copes with
    already (a restart empties Redis too). Not FLUSHDB: Celery's queues and
    the request metrics may share the database, under other names."""
    client = backend.client.get_client(write=True)
    pattern = backend.client.make_pattern("*")
    batch: list[bytes] = []
    count = 0
    for key in client.scan_iter(match=pattern, count=_FLUSH_BATCH):
        batch.append(key)
        if len(batch) >= _FLUSH_BATCH:
            count += client.unlink(*batch)
            batch = []
    if batch:
        count += client.unlink(*batch)
    return count


def _send_unsent(*, ignore_breaker: bool = False) -> bool:
    """Send what this process owes Redis; True when it owes nothing any more.
    Other threads of the process wait meanwhile: none of them may read an
    entry whose invalidation is still owed."""
    with _unsent.lock:
        if not _unsent:
            return True
        backend = caches["default"]
        if not isinstance(backend, FailOpenRedisCache):  # the settings changed (tests): nowhere to send
            _unsent.reset_locked()
            return True
        if breaker_open() and not ignore_breaker:
            return False
        owed = len(_unsent)
        try:
            if _unsent.overflowed:
                _flush_namespace(backend)
            else:
                pipe = backend.client.get_client(write=True).pipeline(transaction=False)
                _queue_writes(pipe, backend, _unsent.delete, _unsent.bump)
                pipe.execute()
        except CAUGHT as exc:
            if failure_kind(exc) == "command":  # ours to fix: sent again, it would fail again, for ever
                _unsent.reset_locked()
            _failed(exc)
            return False
        logger.warning(
            "cache answering again: sent the %s invalidations this process owed",
            "whole-cache" if _unsent.overflowed else owed,
        )
        unsent_invalidations.labels(outcome="sent").inc(owed or 1)
        _unsent.reset_locked()
        return True


def _reach() -> bool:
    """Whether a call may go to Redis now: its breaker closed, and whatever
    invalidations this process owes sent first."""
    if breaker_open():
        return False
    return not _unsent or _send_unsent()


def forget_unsent() -> None:
    _unsent.forget()


@process_exit.register
def _exiting() -> None:
    """At exit (a recycled or stopped gunicorn worker or Celery pool process:
    lms.process_exit), one last try, open breaker or not: what a process
    leaves owing stays stale in Redis until it expires. Bounded by the
    cache's socket timeouts."""
    if not _unsent:
        return
    owed = len(_unsent)
    try:
        sent = _send_unsent(ignore_breaker=True)
    except Exception:  # exiting: log, never raise
        sent = False
    if not sent:
        unsent_invalidations.labels(outcome="lost").inc(owed or 1)
        logger.error("exiting owing %s cache invalidations: their entries stay until they expire", owed or "all")


def invalidate(
    *, delete: Collection[str] = (), bump: Collection[str] = (), bump_timeout: int | None = None, now: bool = True
) -> None:
    """Make cached entries stale for every process: delete the keys of
    `delete`, and give each key of `bump` (a generation or change token that
    entries are stamped with) a new random value, expiring after
    `bump_timeout` seconds (None: never).

    Outside a transaction: at once. Inside one: after its commit, with the
    transaction's other invalidations (`commit_writes`, one round trip), and
    at once too when `now` and the transaction does not defer them
    (`invalidate_now`): at once for a read later in the same transaction,
    which sees its own rows; after the commit because another request may
    have cached the old rows in between. What cannot be sent is kept and sent
    when Redis answers again (module docstring)."""
    bumps = dict.fromkeys(bump, bump_timeout)
    if not transaction.get_connection().in_atomic_block:
        invalidate_at_once(delete=delete, bump=bumps)
        return
    if now and invalidate_now():
        invalidate_at_once(delete=delete, bump=bumps)
    batch = commit_writes()
    batch.delete.update(delete)
    batch.bump.update(bumps)


def invalidate_at_once(*, delete: Collection[str] = (), bump: Mapping[str, int | None] | None = None) -> None:
    """Delete `delete` and give each key of `bump` a new token (key -> its
    timeout: seconds, or None for no expiry) in the default cache: one round
    trip on Redis (a pipeline, under the breaker), kept for later when it
    cannot be sent; one call for each kind elsewhere (the tests' local memory)."""
    bump = bump or {}
    if not delete and not bump:
        return
    backend = caches["default"]
    if not isinstance(backend, FailOpenRedisCache):
        if delete:
            backend.delete_many(list(delete))
        for key, timeout in bump.items():
            backend.set(key, new_token(), timeout)
        return

    def send() -> bool:
        # The raw client's pipeline without MULTI/EXEC (each write stands on
        # its own).
        pipe = backend.client.get_client(write=True).pipeline(transaction=False)
        _queue_writes(pipe, backend, delete, bump)
        pipe.execute()
        return True

    if not guarded(send, default=False):
        _unsent.keep(delete=delete, bump=bump)


def _queue_writes(
    pipe: Any, backend: FailOpenRedisCache, delete: Collection[str], bump: Mapping[str, int | None]
) -> None:
    """DEL and SET on a redis-py pipeline, keys and tokens made and encoded as django-redis does."""
    client = backend.client
    if delete:
        pipe.delete(*(client.make_key(key) for key in delete))
    for key, timeout in bump.items():
        pipe.set(client.make_key(key), client.encode(new_token()), px=None if timeout is None else int(timeout * 1000))


class CommitWrites:
    """The invalidations one transaction asks for after its commit, sent
    together in one round trip (an answer used to make one cache call per
    kind of invalidation, each twice). `notes` holds what callers remember
    for the rest of the transaction."""

    def __init__(self, position: int, *, may_wait: bool = False) -> None:
        self.delete: set[str] = set()
        self.bump: dict[str, int | None] = {}
        self.notes: dict[str, Any] = {}
        self.position = position  # where this callback sits in the connection's on-commit list
        self.may_wait = may_wait  # for the request's last Redis call (see `held_for_request`)

    def __call__(self) -> None:
        held = _held.get()
        if self.may_wait and held is not None:
            held.delete.update(self.delete)
            held.bump.update(self.bump)
            return
        invalidate_at_once(delete=self.delete, bump=self.bump)


class HeldWrites:
    """After-commit invalidations held until the request's last Redis call."""

    def __init__(self) -> None:
        self.delete: set[str] = set()
        self.bump: dict[str, int | None] = {}

    def __bool__(self) -> bool:
        return bool(self.delete or self.bump)

    def queue_on(self, client: Any) -> Callable[[Any], Callable[[list], None]] | None:
        """A function that adds these writes to a pipeline of `client` and
        returns the function to give their answers to (an error answer keeps
        them to send again), when `client` talks to the default cache's Redis
        server and database and nothing older is owed; else None."""
        backend = caches["default"]
        if not self or not isinstance(backend, FailOpenRedisCache) or breaker_open() or _unsent:
            return None
        mine = backend.client.get_client(write=True).connection_pool.connection_kwargs
        theirs = client.connection_pool.connection_kwargs
        if any(mine.get(k, 0 if k == "db" else None) != theirs.get(k, 0 if k == "db" else None) for k in _WHERE):
            return None
        delete, bump = set(self.delete), dict(self.bump)

        def queue(pipe: Any) -> Callable[[list], None]:
            _queue_writes(pipe, backend, delete, bump)
            return answered

        def answered(results: list) -> None:
            errors = [result for result in results if isinstance(result, Exception)]
            if errors:  # refused (the connection was fine, or nothing would have answered)
                _unsent.keep(delete=delete, bump=bump)
                _failed(errors[0])

        return queue

    def send(self) -> None:
        invalidate_at_once(delete=self.delete, bump=self.bump)
        self.clear()

    def clear(self) -> None:
        self.delete, self.bump = set(), {}


_WHERE = ("host", "port", "path", "db")
_held: contextvars.ContextVar[HeldWrites | None] = contextvars.ContextVar("lms_cache_held_writes", default=None)


@contextmanager
def held_for_request() -> Iterator[HeldWrites]:
    """While a request runs: the after-commit invalidations of its
    transactions run under `atomic_invalidating_at_commit` (an answer) are
    kept here instead of being sent, so that the request's last Redis call
    (the request metrics, ops.middleware) carries them: a round trip fewer.
    They are still sent after the commit and before the response leaves;
    others may read the old entries for the rest of the request (a few
    milliseconds), as they may between any commit and its invalidation.
    Whatever the caller did not send is sent on the way out."""
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
    """This transaction's batch of after-commit invalidations, registered
    with `transaction.on_commit` on first use. Only inside a transaction."""
    batch = current_commit_writes()
    if batch is None:
        connection = transaction.get_connection()
        batch = connection.cache_commit_writes = CommitWrites(
            len(connection.run_on_commit), may_wait=getattr(connection, "cache_writes_deferred", False)
        )
        transaction.on_commit(batch)
    return batch


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
