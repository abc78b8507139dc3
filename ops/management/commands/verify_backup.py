from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.backups import list_backups
from ops.models import BackupDrill
from ops.services import backup_drill_run


class Command(BaseCommand):
    help = "Restore drill: check the latest (or a named) backup's checksum, restore it into a scratch database and compare row counts; extract its media archive and compare the files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", help="verify this backup file instead of the latest")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: object, **options: object) -> None:
        manifest = None
        if options["file"]:
            manifest = next((m for m in list_backups() if m.file == options["file"]), None)
            if manifest is None:
                raise CommandError(f"No backup named {options['file']}")
        # Recorded like the nightly drill, so the Backups page shows it too.
        result, _ = backup_drill_run(manifest=manifest, trigger=BackupDrill.Trigger.COMMAND)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
        if not result.ok:
            raise CommandError(f"{result.file or 'backup'}: {result.message}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.file}: {result.message} {result.tables_checked} tables, "
                f"{result.media_checked} media files, {result.duration_ms} ms"
            )
        )
