"""Celery beat's scheduler: django-celery-beat's database scheduler that
survives a database outage and a broker outage, and writes beat's heartbeat.

django-celery-beat catches database errors in `sync()` and
`schedule_changed()`, but not in the full re-read of the schedule it forces
every five minutes (`all_as_schedule()`), so a database outage killed beat
(`beat raised exception OperationalError`) and nothing restarted it. Here a
database error in a tick is logged, the connections are dropped, and beat keeps
the schedule it already has and tries again in a few seconds.

While the broker is down a send fails (within CELERY_BROKER_SOCKET_TIMEOUT,
lms/settings.py; each send used to block 19 s, or for ever on a hung broker,
and beat's loop and heartbeat with it: a broker outage was reported as "beat
down"). After a failed send beat does not try the broker again for
BROKER_PAUSE_SECONDS, so its loop and heartbeat go on: beat alive is what the
heartbeat says, the broker's own probe names the broker. A run that missed its
window is not sent late:

- an entry with an expiry (`expire_seconds`: the every-minute jobs) is useful
  only within that many seconds of its due time: once past it the run is
  skipped (the next one is due within its period), and a run sent late
  expires that much sooner, so the broker's return brings no burst of stale
  runs;
- an entry without one (the hourly, nightly, weekly jobs, the backup) is
  sent once when the broker answers again, however late: skipping it would
  skip a day's backup. Kept in beat's memory: a beat restarted meanwhile
  does not send it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from django.db import connections
from django.db.utils import DatabaseError, InterfaceError
from django_celery_beat.schedulers import DatabaseScheduler
from kombu.exceptions import ChannelError
from kombu.exceptions import OperationalError as BrokerError

from ops import heartbeat

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
HEARTBEAT_EVERY = 10.0
BROKER_PAUSE_SECONDS = 15.0


def lateness(entry: Any) -> float:
    """Seconds since the entry's run was due (0 when it is not late, or
    when its schedule cannot tell)."""
    try:
        remaining = entry.schedule.remaining_estimate(entry.last_run_at)
    except Exception:  # a schedule kind without an estimate: treated as on time
        return 0.0
    return max(0.0, -remaining.total_seconds())


def window(entry: Any) -> float | None:
    """Seconds after its due time within which a run is still useful: its
    `expires` when that is a number of seconds (`expire_seconds`), else None."""
    expires = entry.options.get("expires")
    return float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else None


def _broker_unreachable(exc: BaseException) -> bool:
    """Whether a send failed for the broker's sake: unreachable, hung, or
    refusing the write (a Redis out of memory, read-only: kombu's ChannelError)."""
    from redis.exceptions import RedisError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BrokerError | ChannelError | RedisError | ConnectionError | TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Scheduler(DatabaseScheduler):
    _last_heartbeat = 0.0
    _broker_down_until = 0.0  # monotonic; no send is tried before

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Runs without a window missed while the broker was down, by entry name.
        self.missed: dict[str, Any] = {}
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_EVERY:
            heartbeat.beat()
            self._last_heartbeat = now
        try:
            if self.missed and not self.broker_paused():
                self.send_missed()  # its schedule sync may meet a database error too
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

    def _ensure_connected(self) -> Any:
        """Beat's broker connection (made on its first send): one retry, not
        the stock `broker_connection_max_retries` (100, seconds apart), which
        held a beat started during a broker outage for minutes."""

        def retrying(exc: Exception, interval: float) -> None:
            logger.error("beat: broker connection error: %r; trying again in %s s", exc, interval)

        return self.connection.ensure_connection(retrying, max_retries=1, interval_start=0, interval_step=0.2)

    def broker_paused(self) -> bool:
        return time.monotonic() < self._broker_down_until

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        """Send the entry's due run (the stock one, reserved already by
        `tick`), unless it missed its window; while the broker is down, keep
        a run without a window for its return."""
        try:
            self._apply_entry(entry, producer)
        except Exception:  # an exception here would end beat
            logger.exception("beat: could not send %s", entry.name)

    def _apply_entry(self, entry: Any, producer: Any) -> None:
        late, useful_for = lateness(entry), window(entry)
        if useful_for is not None and late > useful_for:
            logger.warning("beat: %s skipped: due %.0f s ago, past its %.0f s window", entry.name, late, useful_for)
            return
        if self.broker_paused():
            self._missed_while_down(entry, useful_for)
            return
        self.send(entry, producer=producer, expires=None if useful_for is None else useful_for - late)

    def send(self, entry: Any, *, producer: Any = None, expires: float | None = None) -> bool:
        """Send one run now; False (and the broker paused) when the broker is unreachable."""
        logger.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        options = entry.options
        if expires is not None:  # this run only: the entry is the schedule's
            entry.options = {**options, "expires": expires}
        try:
            self.apply_async(entry, producer=producer or self.producer, advance=False)
        except Exception as exc:
            if not _broker_unreachable(exc):
                logger.error("beat: could not send %s: %r", entry.name, exc, exc_info=True)
                return True  # not the broker's fault: the next run will tell
            self._broker_down_until = time.monotonic() + BROKER_PAUSE_SECONDS
            logger.error(
                "beat: the broker is unreachable (%r): %s not sent; no send tried for %.0f s",
                exc,
                entry.name,
                BROKER_PAUSE_SECONDS,
            )
            self._missed_while_down(entry, window(entry))
            return False
        finally:
            entry.options = options
        self.missed.pop(entry.name, None)
        return True

    def _missed_while_down(self, entry: Any, useful_for: float | None) -> None:
        if useful_for is None:
            self.missed[entry.name] = entry
            logger.warning("beat: %s not sent (broker down); sent when the broker answers", entry.name)
        else:
            logger.warning("beat: %s not sent (broker down); the next run is due within its period", entry.name)

    def send_missed(self) -> None:
        """The runs without a window the broker outage held back, once each."""
        for name, entry in list(self.missed.items()):
            logger.info("beat: sending %s, held back while the broker was down", name)
            if not self.send(entry):  # (a sent run leaves `missed` there)
                return
