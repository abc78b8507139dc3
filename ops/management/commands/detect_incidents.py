from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from ops import metrics, services


class Command(BaseCommand):
    help = "Run one incident detection pass over every enabled rule (the beat job does this every minute)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--probe", action="store_true", help="Record a round of health probes first.")

    def handle(self, *args: Any, **options: Any) -> None:
        # The documented fallback when beat or the worker is down, so it must
        # survive the outages it is run for: probe first (a Redis outage is
        # exactly what the probe should record), then flush guarded.
        if options["probe"]:
            try:
                probes = services.run_probes()
            except DatabaseError as exc:
                self.stderr.write(f"probes not stored, the database is unavailable: {exc}")
            else:
                for probe in probes:
                    self.stdout.write(f"probe {probe.component:9} {probe.status:9} {probe.message}")
        try:
            metrics.flush()  # this process's own counters, and Redis's when it answers
        except Exception as exc:  # the counters stay where they were for the next flush
            self.stderr.write(f"request metrics not flushed (kept for the next flush): {exc}")
        try:
            results = services.detection_pass()
        except DatabaseError as exc:
            raise CommandError(f"detection pass skipped, the database is unavailable: {exc}") from exc
        for slug, info in results.items():
            line = f"{slug:16} {info['action']:13} value={info.get('value')} threshold={info.get('threshold')}"
            if info.get("note"):
                line += f" ({info['note']})"
            self.stdout.write(line)
