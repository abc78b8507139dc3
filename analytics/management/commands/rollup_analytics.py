from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from analytics import services
from analytics import timeutil as tu


class Command(BaseCommand):
    help = "Roll up analytics events into the daily tables (the Celery beat jobs call the same code)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=0, help="re-roll the last N closed UTC days")
        parser.add_argument("--purge", action="store_true", help="also delete raw events past the retention period")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"]:
            today = tu.utc_day_of(timezone.now())
            services.rollup_range(today - options["days"], today - 1)
            self.stdout.write(f"Rolled up {options['days']} days.")
        else:
            days = services.rollup_pending()
            self.stdout.write(f"Rolled up {len(days)} day(s).")
        if options["purge"]:
            self.stdout.write(f"Purged {services.purge_old_events()} raw events.")
