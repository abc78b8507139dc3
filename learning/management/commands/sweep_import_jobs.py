"""Fail background imports whose worker died, and remove what they left.

A job whose progress has not moved for IMPORT_STALE_SECONDS is marked failed
(the page and the status API say why), its kept upload is deleted, and media
files no MediaBlob names are removed. Celery beat runs it every five minutes.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from learning.import_jobs import import_jobs_sweep


class Command(BaseCommand):
    help = "Fail background imports that stopped making progress and remove their files."

    def handle(self, *args: Any, **options: Any) -> None:
        count = import_jobs_sweep()
        self.stdout.write(f"{count} stalled import(s) marked failed.")
