from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ops.backups import BackupError, create_backup


class Command(BaseCommand):
    help = "Dump the database and archive the media into BACKUP_DIR with a checksummed manifest; prune old backups."

    def handle(self, *args: object, **options: object) -> None:
        try:
            manifest = create_backup()
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup {manifest.file}: {manifest.size_bytes:,} bytes, {len(manifest.tables)} tables, "
                f"sha256 {manifest.sha256[:12]}…, {manifest.duration_ms} ms; "
                f"media {manifest.media_file}: {manifest.media_files} files, sha256 {manifest.media_sha256[:12]}…"
            )
        )
