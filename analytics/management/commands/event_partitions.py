from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics import partitions


class Command(BaseCommand):
    help = (
        "Create the coming months' partitions of the event table and move rows out of the default "
        "partition (PostgreSQL; the daily Celery beat job calls the same code). Lists the partitions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--months-ahead", type=int, default=partitions.MONTHS_AHEAD, help="partitions after the current month"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not partitions.is_partitioned():
            self.stdout.write("The event table is not partitioned (SQLite, or PostgreSQL before migration 0008).")
            return
        done = partitions.ensure_partitions(months_ahead=max(0, options["months_ahead"]))
        self.stdout.write(f"Created {len(done['created'])} partition(s), moved {done['moved']} row(s).")
        for part in partitions.partitions():
            self.stdout.write(f"{part.name}: {part.start:%Y-%m-%d} to {part.end:%Y-%m-%d}")
