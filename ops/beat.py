"""Celery beat's scheduler: django-celery-beat's database scheduler that
survives a database outage and writes beat's heartbeat.

django-celery-beat catches database errors in `sync()` and
`schedule_changed()`, but not in the full re-read of the schedule it forces
every five minutes (`all_as_schedule()`), so a database outage killed beat
(`beat raised exception OperationalError`) and nothing restarted it. Here a
database error in a tick is logged, the connections are dropped, and beat keeps
the schedule it already has and tries again in a few seconds.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from django.db import connections
from django.db.utils import DatabaseError, InterfaceError
from django_celery_beat.schedulers import DatabaseScheduler

from ops import heartbeat

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
HEARTBEAT_EVERY = 10.0


class Scheduler(DatabaseScheduler):
    _last_heartbeat = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_EVERY:
            heartbeat.beat()
            self._last_heartbeat = now
        try:
            return super().tick(*args, **kwargs)
        except (DatabaseError, InterfaceError) as exc:
            logger.error("beat: database error in tick, keeping the current schedule: %r", exc)
            for conn in connections.all(initialized_only=True):
                if conn.in_atomic_block:  # never in beat; a test's transaction
                    continue
                with contextlib.suppress(Exception):  # a dead connection may fail to close
                    conn.close_if_unusable_or_obsolete()
            # The next tick re-reads the schedule once the database answers.
            self._initial_read = self._schedule is None
            return RETRY_SECONDS
