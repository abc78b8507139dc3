from __future__ import annotations

import logging
import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from ops import watchdog

logger = logging.getLogger("ops.watchdog")


class Command(BaseCommand):
    help = (
        "Watch the database, cache, broker, workers and beat from outside (every "
        "WATCHDOG_INTERVAL_SECONDS); journal while the database is down, notify directly "
        "while the database or Celery is down, write the status page's outage state."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="Run one cycle and exit.")
        parser.add_argument("--journal", default="", help="Journal file (default WATCHDOG_JOURNAL).")

    def handle(self, *args: Any, **options: Any) -> None:
        # Django's own connection (used to write probes and incidents) must not
        # hang on a half-dead PostgreSQL either.
        config = connections["default"].settings_dict
        if connections["default"].vendor == "postgresql":
            config.setdefault("OPTIONS", {}).setdefault(
                "connect_timeout", max(2, int(settings.WATCHDOG_TIMEOUT_SECONDS))
            )
        journal = watchdog.Journal(options["journal"] or settings.WATCHDOG_JOURNAL)
        stop = False

        def request_stop(*_: Any) -> None:
            nonlocal stop
            stop = True

        if not options["once"]:
            signal.signal(signal.SIGTERM, request_stop)
            signal.signal(signal.SIGINT, request_stop)
        try:
            while True:
                started = time.monotonic()
                try:
                    report = watchdog.run_cycle(journal=journal)
                except Exception:
                    logger.exception("watchdog cycle failed")
                else:
                    self.stdout.write(self._line(report))
                if options["once"] or stop:
                    break
                while not stop and time.monotonic() - started < settings.WATCHDOG_INTERVAL_SECONDS:
                    time.sleep(0.5)
                if stop:
                    break
        finally:
            journal.close()

    def _line(self, report: watchdog.CycleReport) -> str:
        parts = [f"{name}={r.status}" for name, r in report.results.items()]
        line = f"{report.at:%Y-%m-%dT%H:%M:%S} " + " ".join(parts)
        line += f" db_written={report.database_written} replayed={report.replayed_cycles}"
        if report.actions:
            line += f" actions={report.actions}"
        if report.notified:
            line += f" notified={report.notified}"
        return line
