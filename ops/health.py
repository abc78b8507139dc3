"""Health checks of each component the service needs.

`check_all()` is what `/health/detailed/` shows and what the ops probes record
every minute. Each check returns a `ComponentHealth`; none raises.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

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


def _timed(name: str, check: Callable[[], tuple[str, str, dict[str, Any]]]) -> ComponentHealth:
    started = time.perf_counter()
    try:
        status, message, details = check()
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


def pending_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def check_migrations() -> ComponentHealth:
    def run() -> tuple[str, str, dict[str, Any]]:
        pending = pending_migrations()
        if pending:
            return UNHEALTHY, f"{pending} migrations not applied", {"pending": pending}
        return HEALTHY, "", {"pending": 0}

    return _timed("migrations", run)


def _cache() -> tuple[str, str, dict[str, Any]]:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "ok", 10)
    value = cache.get(key)
    cache.delete(key)
    if value != "ok":
        return UNHEALTHY, "cache did not return the value it was given", {}
    return HEALTHY, "", {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def check_cache() -> ComponentHealth:
    return _timed("cache", _cache)


def _broker() -> tuple[str, str, dict[str, Any]]:
    from lms.celery import app

    if app.conf.task_always_eager:
        return HEALTHY, "tasks run inline (eager mode)", {"mode": "eager"}
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return HEALTHY, "", {"mode": "broker"}


def check_broker() -> ComponentHealth:
    return _timed("broker", _broker)


def _workers() -> tuple[str, str, dict[str, Any]]:
    from lms.celery import app

    if app.conf.task_always_eager:
        return HEALTHY, "tasks run inline (eager mode)", {"mode": "eager", "workers": 0}
    replies = app.control.ping(timeout=1.0) or []
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

# A failing database makes the service unusable; a failing worker or a full-ish
# disk only delays background work.
CRITICAL = {"database", "cache"}


def overall(components: list[ComponentHealth]) -> str:
    if any(c.status == UNHEALTHY and c.name in CRITICAL for c in components):
        return UNHEALTHY
    if any(c.status != HEALTHY for c in components):
        return DEGRADED
    return HEALTHY


def check_all() -> tuple[str, list[ComponentHealth]]:
    components = [check() for check in CHECKS.values()]
    return overall(components), components
