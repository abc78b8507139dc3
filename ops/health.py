"""Health checks of each component the service needs.

`check_all()` is what `/health/detailed/` shows and what the ops probes record
every minute. Each check returns a `ComponentHealth`; none raises, and none
takes longer than `HEALTH_CHECK_TIMEOUT` seconds: each runs in a small thread
pool and is reported unhealthy ("no answer within ...") when it has not
answered by then, so a hung Redis (one that accepts connections and never
replies) cannot hang a probe, the detailed health page or the web worker
serving it. Each client also has its own short socket timeout, so a thread
left behind by a hung dependency ends soon after.
"""

from __future__ import annotations

import functools
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"


@dataclass
class ComponentHealth:
    name: str
    status: str
    response_time_ms: float
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")


def _in_thread(check: Callable[[], tuple[str, str, dict[str, Any]]]) -> tuple[str, str, dict[str, Any]]:
    try:
        return check()
    finally:
        # A pool thread has its own database connection: do not keep it open.
        for conn in connections.all(initialized_only=True):
            if not conn.in_atomic_block:
                conn.close()


def _timed(
    name: str, check: Callable[[], tuple[str, str, dict[str, Any]]], timeout: float | None = None
) -> ComponentHealth:
    timeout = settings.HEALTH_CHECK_TIMEOUT if timeout is None else timeout
    started = time.perf_counter()
    try:
        status, message, details = _pool.submit(_in_thread, check).result(timeout=timeout)
    except FutureTimeout:
        status, message, details = UNHEALTHY, f"no answer within {timeout} s", {"timeout_s": timeout}
    except Exception as exc:
        status, message, details = UNHEALTHY, f"{type(exc).__name__}: {exc}", {}
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return ComponentHealth(name, status, elapsed, message, details)


def _database() -> tuple[str, str, dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return HEALTHY, "", {"vendor": connection.vendor}


def check_database() -> ComponentHealth:
    return _timed("database", _database)


@functools.cache
def _migrations_on_disk() -> tuple[frozenset[tuple[str, str]], dict[tuple[str, str], tuple[tuple[str, str], ...]]]:
    """Every migration the code ships, and what each squashed one replaces.

    Read once per process: the files cannot change under a running process,
    and importing every migration module took most of a readiness probe's
    time budget (a loaded machine made `/health/ready/` time out).
    """
    loader = MigrationLoader(None, ignore_no_migrations=True, replace_migrations=False)
    replaces = {key: tuple(map(tuple, m.replaces)) for key, m in loader.disk_migrations.items() if m.replaces}
    return frozenset(loader.disk_migrations), replaces


def pending_migrations() -> int:
    """How many shipped migrations this database has not applied (one query)."""
    on_disk, replaces = _migrations_on_disk()
    applied = set(MigrationRecorder(connection).applied_migrations())
    # As `migrate` sees it: a squashed migration is applied when everything it
    # replaces is, and its replaced migrations are when it is.
    for squashed, replaced in replaces.items():
        if squashed in applied:
            applied.update(replaced)
        elif all(key in applied for key in replaced):
            applied.add(squashed)
    return len(on_disk - applied)


def check_migrations() -> ComponentHealth:
    def run() -> tuple[str, str, dict[str, Any]]:
        pending = pending_migrations()
        if pending:
            return UNHEALTHY, f"{pending} migrations not applied", {"pending": pending}
        return HEALTHY, "", {"pending": 0}

    return _timed("migrations", run)


def _cache() -> tuple[str, str, dict[str, Any]]:
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    raw = getattr(getattr(cache, "client", None), "get_client", None)
    key = f"health:{uuid.uuid4().hex}"
    if raw is not None:
        # The cache fails open (an unreachable or refusing Redis is a miss), so
        # ask Redis itself, past the breaker: it answers, and it takes a write
        # (an out-of-memory, read-only or MISCONF Redis answers PING and
        # refuses writes; the error is the check's message).
        client = raw(write=True)
        client.ping()
        redis_key = cache.make_key(key)
        client.set(redis_key, b"ok", ex=10)
        value = client.get(redis_key)
        client.delete(redis_key)
        if value != b"ok":
            return UNHEALTHY, "Redis did not return the value it was given", {"backend": backend}
        return HEALTHY, "", {"backend": backend}
    cache.set(key, "ok", 10)
    value = cache.get(key)
    cache.delete(key)
    if value != "ok":
        return UNHEALTHY, "cache did not return the value it was given", {"backend": backend}
    return HEALTHY, "", {"backend": backend}


def check_cache() -> ComponentHealth:
    return _timed("cache", _cache)


def _short_timeouts() -> dict[str, Any]:
    seconds = settings.HEALTH_CHECK_TIMEOUT
    # polling_interval: a fresh Redis connection otherwise waits a whole second
    # before it first reads the ping replies.
    return {"socket_timeout": seconds, "socket_connect_timeout": seconds, "max_retries": 0, "polling_interval": 0.05}


def _broker() -> tuple[str, str, dict[str, Any]]:
    from lms.celery import app

    if app.conf.task_always_eager:
        return HEALTHY, "tasks run inline (eager mode)", {"mode": "eager"}
    url = app.conf.broker_url or ""
    if url.startswith(("redis://", "rediss://")):
        import redis

        seconds = settings.HEALTH_CHECK_TIMEOUT
        client = redis.Redis.from_url(url, socket_timeout=seconds, socket_connect_timeout=seconds)
        try:
            client.ping()
        finally:
            client.close()
        return HEALTHY, "", {"mode": "broker"}
    with app.connection_for_write(transport_options=_short_timeouts()) as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_CHECK_TIMEOUT)
    return HEALTHY, "", {"mode": "broker"}


def check_broker() -> ComponentHealth:
    return _timed("broker", _broker)


def _workers() -> tuple[str, str, dict[str, Any]]:
    from lms.celery import app

    if app.conf.task_always_eager:
        return HEALTHY, "tasks run inline (eager mode)", {"mode": "eager", "workers": 0}
    with app.connection_for_write(transport_options=_short_timeouts()) as conn:
        # Leave time within the check's own timeout for connecting and publishing.
        replies = app.control.ping(timeout=settings.HEALTH_CHECK_TIMEOUT * 0.4, connection=conn) or []
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return UNHEALTHY, "no Celery worker answered", {"workers": 0}
    return HEALTHY, "", {"workers": len(names), "names": names}


def check_workers() -> ComponentHealth:
    return _timed("workers", _workers)


def _disk() -> tuple[str, str, dict[str, Any]]:
    usage = shutil.disk_usage(settings.BASE_DIR)
    percent = round(usage.used / usage.total * 100, 1)
    details = {"percent_used": percent, "free_gb": round(usage.free / 1024**3, 2)}
    if percent >= settings.HEALTH_DISK_UNHEALTHY_PERCENT:
        return UNHEALTHY, f"disk {percent}% full", details
    if percent >= settings.HEALTH_DISK_DEGRADED_PERCENT:
        return DEGRADED, f"disk {percent}% full", details
    return HEALTHY, "", details


def check_disk() -> ComponentHealth:
    return _timed("disk", _disk)


CHECKS: dict[str, Callable[[], ComponentHealth]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "workers": check_workers,
    "disk": check_disk,
}

# A failing database makes the service unusable. The cache fails open (a Redis
# outage slows pages, throttles let requests through), a failing worker or a
# full-ish disk only delays background work: those degrade, they do not take
# the service down.
CRITICAL = {"database"}


def overall(components: list[ComponentHealth]) -> str:
    if any(c.status == UNHEALTHY and c.name in CRITICAL for c in components):
        return UNHEALTHY
    if any(c.status != HEALTHY for c in components):
        return DEGRADED
    return HEALTHY


def check_all() -> tuple[str, list[ComponentHealth]]:
    """Every check at once (in parallel): the answer comes within the slowest
    check's timeout, whatever is down."""
    with ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="health-all") as runner:
        components = list(runner.map(lambda check: check(), CHECKS.values()))
    return overall(components), components


_detailed_lock = threading.Lock()
_detailed: tuple[float, tuple[str, list[ComponentHealth]]] | None = None


def check_all_cached() -> tuple[str, list[ComponentHealth]]:
    """`check_all()`, reused for HEALTH_DETAILED_CACHE_SECONDS in this process:
    a loop of requests to /health/detailed/ cannot load the database or Redis,
    and concurrent requests wait for one run instead of starting their own.
    Kept in memory, not the cache, because the cache is one of the things checked."""
    global _detailed
    with _detailed_lock:
        if _detailed is not None and time.monotonic() - _detailed[0] < settings.HEALTH_DETAILED_CACHE_SECONDS:
            return _detailed[1]
        result = check_all()
        _detailed = (time.monotonic(), result)
        return result


def forget_cached() -> None:
    global _detailed
    _detailed = None
