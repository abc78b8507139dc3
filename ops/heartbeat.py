"""Celery beat's heartbeat: beat itself (ops.beat.Scheduler, on every tick)
records the time it last ran, in Redis and in a local file; the watchdog and
the probes read it, compose's health check reads the file.

Written by the beat process, not by a task a worker runs, so a dead worker
does not look like a dead beat. Every Redis call has its own short socket
timeout: a hung Redis must not stop beat's loop.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from django.conf import settings

from ops import health

REDIS_KEY = "ops:beat:heartbeat"
logger = logging.getLogger(__name__)


try:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # One try per call: redis-py retries three times by default, tripling a hung server's cost.
    NO_RETRY = Retry(NoBackoff(), 0)
except ImportError:  # pragma: no cover - redis is in requirements.txt
    NO_RETRY = None


def _redis(timeout: float):  # noqa: ANN202 - redis.Redis, imported lazily (absent without REDIS_URL)
    import redis

    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout, retry=NO_RETRY
    )


def beat(*, now: float | None = None, timeout: float = 1.0) -> None:
    """Record that beat is alive (never raises: a heartbeat must not kill beat)."""
    now = time.time() if now is None else now
    path = Path(settings.OPS_BEAT_HEARTBEAT_FILE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{now:.3f}\n")
    except OSError as exc:
        logger.warning("beat heartbeat file %s not written: %r", path, exc)
    if settings.REDIS_URL:
        try:
            _redis(timeout).set(REDIS_KEY, f"{now:.3f}", ex=24 * 3600)
        except Exception as exc:  # Redis down or hung: the file still has it
            logger.warning("beat heartbeat not written to Redis: %r", exc)


def _file_beat() -> float | None:
    try:
        return float(Path(settings.OPS_BEAT_HEARTBEAT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def last_beat(*, timeout: float = 1.0) -> float | None:
    """When beat last ticked (epoch seconds): the newer of Redis (beat may run
    on another host) and the local file; None when neither has it.

    Both, not Redis alone: a Redis that restarts without its data (or is down)
    has no heartbeat while beat on this host keeps writing the file; reading
    Redis alone called a live beat "never written" and opened `beat-heartbeat`
    after every Redis restart. Raises only when Redis fails and there is no file.
    """
    seen = [value] if (value := _file_beat()) is not None else []
    if settings.REDIS_URL:
        try:
            stored = _redis(timeout).get(REDIS_KEY)
        except Exception:
            if not seen:
                raise
            stored = None
        if stored:
            seen.append(float(stored))
    return max(seen) if seen else None


def check_beat(*, timeout: float = 1.0, now: float | None = None) -> health.ComponentHealth:
    """Unhealthy when beat has not ticked for OPS_BEAT_STALE_SECONDS; in the
    embedded mode (eager Celery, no beat) there is nothing to watch."""
    from lms.celery import app

    def run() -> tuple[str, str, dict]:
        if app.conf.task_always_eager:
            return health.HEALTHY, "no beat in the embedded mode (eager)", {"mode": "eager"}
        moment = time.time() if now is None else now
        # A fresh heartbeat file is beat alive: Redis is not asked. Asked, a
        # hung Redis (the broker's too) made this check time out and report
        # beat down in a broker outage (drill of 2026-12-07).
        written = _file_beat()
        if written is not None and moment - written <= settings.OPS_BEAT_STALE_SECONDS:
            return health.HEALTHY, "", {"age_seconds": round(moment - written, 1)}
        try:
            last = last_beat(timeout=timeout)
        except Exception as exc:  # Redis down: beat may be fine; probe-cache reports Redis
            return health.DEGRADED, f"heartbeat unreadable: {type(exc).__name__}: {exc}", {}
        if last is None:
            return health.UNHEALTHY, "beat has never written its heartbeat", {}
        age = moment - last
        details = {"age_seconds": round(age, 1)}
        if age > settings.OPS_BEAT_STALE_SECONDS:
            return health.UNHEALTHY, f"beat's last heartbeat was {age:.0f} s ago", details
        return health.HEALTHY, "", details

    # Room for the Redis read's own timeout: the check answers "unreadable"
    # (degraded) rather than "no answer" (unhealthy) when Redis hangs.
    return health._timed("beat", run, max(settings.HEALTH_CHECK_TIMEOUT, timeout + 0.5))
