from __future__ import annotations

import time

from celery import Task, shared_task

from lms import privacy


@shared_task(bind=True, max_retries=3, default_retry_delay=5, acks_late=True)
def ping(self: Task, payload: str = "pong") -> dict:
    """Round-trips through the broker and a worker; `/health/detailed/` and the
    worker test use it to prove the background path end to end."""
    return {"payload": payload, "worker": self.request.hostname, "at": time.time()}


@shared_task(acks_late=True)
def build_data_export(export_id: int) -> str:
    return privacy.data_export_build(export_id=export_id).status


@shared_task
def privacy_daily() -> dict:
    """Complete account deletions whose grace period is over; drop expired exports."""
    return {"accounts_deleted": privacy.accounts_delete_due(), "exports_deleted": privacy.exports_delete_expired()}
