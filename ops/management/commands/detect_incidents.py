from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ops import metrics, services


class Command(BaseCommand):
    help = "Run one incident detection pass over every enabled rule (the beat job does this every minute)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--probe", action="store_true", help="Record a round of health probes first.")

    def handle(self, *args: Any, **options: Any) -> None:
        metrics.flush()  # this process's own counters, when there is no Redis
        if options["probe"]:
            services.run_probes()
        for slug, info in services.detection_pass().items():
            line = f"{slug:16} {info['action']:13} value={info.get('value')} threshold={info.get('threshold')}"
            if info.get("note"):
                line += f" ({info['note']})"
            self.stdout.write(line)
