from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ops.maintenance import run_maintenance


class Command(BaseCommand):
    help = "Run the weekly maintenance now (retention, vacuum, size report, performance, security, backup check)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-email", action="store_true", help="Do not email the report to admins.")

    def handle(self, *args: Any, **options: Any) -> None:
        run = run_maintenance(trigger="command", email=not options["no_email"])
        for step in run.steps.all():
            self.stdout.write(
                f"{step.position}. {step.name:26} {step.result:8} {step.duration_ms:8.0f} ms  {step.message}"
            )
        style = self.style.SUCCESS if run.status == run.Status.OK else self.style.WARNING
        self.stdout.write(style(f"Run #{run.pk}: {run.get_status_display()}"))
