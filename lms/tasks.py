from __future__ import annotations

import time

from celery import Task, shared_task

from lms import privacy, queueing, signup


@shared_task(bind=True, max_retries=3, default_retry_delay=5, acks_late=True, ignore_result=False)
def ping(self: Task, payload: str = "pong") -> dict:
    """Round-trips through the broker and a worker; `/health/detailed/` and the
    worker test use it to prove the background path end to end. Its result is
    kept (CELERY_TASK_IGNORE_RESULT drops the others'): the round trip is the point."""
    return {"payload": payload, "worker": self.request.hostname, "at": time.time()}


@shared_task(acks_late=True)
def build_data_export(export_id: int) -> str | None:
    """Build one export; None when this delivery found nothing to do (built
    already, or another delivery's build holds it)."""
    export = privacy.data_export_build(export_id=export_id)
    return export.status if export else None


def queue_data_export(export_id: int) -> bool:
    """Send an export's build; False when the broker did not take it."""
    return queueing.enqueue(build_data_export, export_id)


@shared_task
def sweep_data_exports() -> dict[str, int]:
    """Re-send exports whose build task was lost, fail those whose builds keep
    dying (lms.privacy.data_exports_sweep); beat runs it every 5 minutes."""
    return privacy.data_exports_sweep(send=queue_data_export)


@shared_task
def privacy_daily() -> dict:
    """Complete account deletions whose grace period is over; drop expired
    exports and sign-ups never confirmed."""
    return {
        "accounts_deleted": privacy.accounts_delete_due(),
        "exports_deleted": privacy.exports_delete_expired(),
        "signups_deleted": signup.signups_delete_expired(),
    }


@shared_task(acks_late=True)
def send_signup_mail(kind: str, user_id: int, next_url: str = "") -> None:
    """The one email every sign-up sends, whichever kind: always this route,
    so neither the page nor its timing says which it was."""
    signup.signup_mail_send(kind=kind, user_id=user_id, next_url=next_url)
