from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ops import services


class Command(BaseCommand):
    help = "Turn maintenance mode on or off (or show it): non-staff get a 503 while it is on."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("state", choices=["on", "off", "status"])
        parser.add_argument("--message", default="", help="What users see while it is on.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["state"] != "status":
            services.maintenance_mode_set(on=options["state"] == "on", message=options["message"])
        on = services.maintenance_mode_on()
        self.stdout.write(
            f"Maintenance mode is {'ON' if on else 'off'}: {services.maintenance_message() if on else ''}"
        )
