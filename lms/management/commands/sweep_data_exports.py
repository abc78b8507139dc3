"""Re-send data exports whose build task was lost, and fail those whose
builds keep dying.

A pending export no worker has picked up DATA_EXPORT_QUEUE_STALE_SECONDS
after its task was sent, or whose build claimed it more than
DATA_EXPORT_CLAIM_STALE_SECONDS ago without finishing, is sent again; after
DATA_EXPORT_MAX_ATTEMPTS dead builds it is marked failed (the "My data" page
says so and the person can ask again). Celery beat runs it every five minutes.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from lms import privacy, tasks


class Command(BaseCommand):
    help = "Re-send data exports whose build task was lost; fail those whose builds keep dying."

    def handle(self, *args: Any, **options: Any) -> None:
        done = privacy.data_exports_sweep(send=tasks.queue_data_export)
        self.stdout.write(
            f"{done['resent']} data export(s) re-sent, {done['failed']} marked failed, "
            f"{done['not_sent']} left for the next sweep (the broker did not take them)."
        )
