from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ops import metrics


class Command(BaseCommand):
    help = "Flush recorded request metrics into per-minute rows now."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{metrics.flush()} rows written")
