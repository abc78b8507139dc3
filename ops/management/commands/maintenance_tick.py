"""Start and end scheduled maintenance windows now (beat does it every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ops import windows


class Command(BaseCommand):
    help = "Start due maintenance windows and end finished ones (maintenance mode, snoozing, notices, grace)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = windows.maintenance_tick()
        self.stdout.write(
            f"started {result['started'] or 'none'}, ended {result['ended'] or 'none'}, "
            f"{result['grace_windows']} grace window(s) for learning"
        )
