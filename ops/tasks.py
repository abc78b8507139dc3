"""Celery tasks: thin wrappers that call services (beat schedules them; the
data migration seeds the schedules)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=6, autoretry_for=(Exception,), retry_backoff=30, retry_backoff_max=1800)
def notify_incident(self: Task, incident_id: int, event: str, channel: str = "all") -> dict[str, Any]:
    """Email and webhook are retried separately (with exponential back-off) so a
    flaky webhook does not send the email twice."""
    from ops import notify
    from ops.models import Incident

    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        return {"skipped": "incident gone"}
    if channel == "all":
        out: dict[str, Any] = {}
        out["email"] = notify_incident.delay(incident_id, event, "email").id
        out["webhook"] = notify_incident.delay(incident_id, event, "webhook").id
        return out
    if channel == "email":
        return {"email": notify.send_email(incident, event)}
    return {"webhook": notify.send_webhook(incident, event)}


@shared_task
def flush_metrics() -> int:
    from ops import metrics

    return metrics.flush()


@shared_task
def run_probes() -> int:
    from ops import services

    return len(services.run_probes())


@shared_task
def detect_incidents() -> dict[str, Any]:
    from ops import services

    return {slug: info["action"] for slug, info in services.detection_pass().items()}


@shared_task
def check_escalations() -> list[int]:
    from ops import services

    return services.escalate_overdue()


@shared_task(time_limit=3600, soft_time_limit=3500)
def weekly_maintenance() -> int:
    from ops import maintenance

    return maintenance.run_maintenance(trigger="beat").pk


@shared_task(time_limit=3 * 3600, soft_time_limit=3 * 3600 - 60, acks_late=True)
def backup(trigger: str = "beat", user_id: int | None = None) -> dict[str, Any]:
    """Nightly database backup, followed by a restore drill of what it wrote
    (recorded as a BackupDrill): a backup that cannot be restored is reported
    the same night, not on the day it is needed."""
    from lms.models import User
    from ops.backups import create_backup
    from ops.services import backup_drill_run

    user = User.objects.filter(pk=user_id).first() if user_id else None
    manifest = create_backup()
    result, drill = backup_drill_run(manifest=manifest, trigger=trigger, user=user)
    if not result.ok:
        raise RuntimeError(f"restore drill of {manifest.file} failed: {result.message}")
    return {"file": manifest.file, "bytes": manifest.size_bytes, "drill": result.as_dict(), "drill_id": drill.pk}


@shared_task(time_limit=3 * 3600, soft_time_limit=3 * 3600 - 60)
def verify_backup(file: str = "", trigger: str = "task", user_id: int | None = None) -> dict[str, Any]:
    """A restore drill of the named (or latest) backup, recorded pass or fail;
    the result is the record, so a failed drill does not raise."""
    from lms.models import User
    from ops.services import backup_drill_run

    user = User.objects.filter(pk=user_id).first() if user_id else None
    result, drill = backup_drill_run(file=file, trigger=trigger, user=user)
    return {**result.as_dict(), "drill_id": drill.pk}


@shared_task(bind=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=300)
def sla_report(self: Task, month: str = "") -> str:
    """On the 1st: the month that just ended, mailed to every admin (once)."""
    from ops import reports, sla

    run = reports.sla_report_send(month=sla.parse_month(month) if month else None)
    return run.period if run else "already sent"


@shared_task
def maintenance_tick() -> dict[str, Any]:
    """Every minute: start and end maintenance windows (one switch), grace windows for learning."""
    from ops import windows

    return windows.maintenance_tick()


@shared_task
def notify_subscribers(kind: str, object_id: int, event: str) -> int:
    """Make the notices of one incident update or maintenance event, one task per subscriber."""
    from ops import subscriptions

    ids = subscriptions.notices_create(kind, object_id, event)
    for notice_id in ids:
        try:
            deliver_notice.delay(notice_id, kind, object_id, event)
        except Exception:  # eager mode runs (and fails) it here: the others still go
            logger.warning("notice %s not delivered yet (kept for a retry)", notice_id, exc_info=True)
    return len(ids)


@shared_task(bind=True, max_retries=6, autoretry_for=(Exception,), retry_backoff=30, retry_backoff_max=1800)
def deliver_notice(self: Task, notice_id: int, kind: str, object_id: int, event: str) -> bool:
    """One subscriber's notice, retried with back-off; never sent twice (the row records it)."""
    from ops import subscriptions

    return subscriptions.notice_deliver(notice_id, kind, object_id, event)


@shared_task(bind=True, max_retries=5, autoretry_for=(Exception,), retry_backoff=60)
def send_subscription_confirmation(self: Task, subscriber_id: int) -> bool:
    from ops import subscriptions
    from ops.models import Subscriber

    subscriber = Subscriber.objects.filter(pk=subscriber_id, confirmed_at__isnull=True).first()
    if subscriber is None:
        return False
    subscriptions.send_confirmation(subscriber)
    return True


@shared_task(bind=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=300)
def daily_report(self: Task) -> str:
    """Every morning: yesterday's health report, mailed to every admin (once)."""
    from ops import reports

    run = reports.daily_report_send()
    return run.period if run else "already sent"


@shared_task
def kb_stale_reminder() -> int:
    """Weekly: tell the admins which knowledge-base articles are due for review."""
    from ops import reports

    return reports.kb_stale_reminder_send()
