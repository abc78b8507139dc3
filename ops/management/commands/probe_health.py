from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ops import services


class Command(BaseCommand):
    help = "Probe every component once and record the results (the beat job does this every minute)."

    def handle(self, *args: Any, **options: Any) -> None:
        for probe in services.run_probes():
            self.stdout.write(f"{probe.component:9} {probe.status:10} {probe.latency_ms:8.1f} ms {probe.message}")
