"""Weekly maintenance: each step records its result, figures and duration in a
`MaintenanceRun`; a failing step marks the run partial but never stops the rest.

Retention policy (what step 1 deletes, and nothing else):
- Django sessions whose expiry date has passed;
- abandoned study sessions: never finished, started more than
  OPS_ABANDONED_SESSION_HOURS ago and with nothing attached to them (so no
  review history can cascade away) — only if learning.StudySession exists;
- per-minute request rows older than OPS_METRICS_MINUTE_RETENTION_DAYS, after
  folding them into hourly rollup rows (rollups are kept for good);
- raw analytics events older than OPS_EVENT_RETENTION_DAYS, if analytics.Event exists (on
  PostgreSQL whole monthly partitions are dropped: analytics.partitions);
- health probes older than OPS_PROBE_RETENTION_DAYS (the status page shows 90 days).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Sum
from django.template.loader import render_to_string
from django.utils import timezone

from analytics import partitions
from lms import audit
from lms.tokens import tokens_delete_expired
from ops import histogram, metrics
from ops.models import BackupDrill, HealthProbe, MaintenanceRun, MaintenanceStep, RequestMetric

logger = logging.getLogger(__name__)


class StepWarning(Exception):
    """The step ran but found something a person must look at."""

    def __init__(self, message: str, figures: dict[str, Any]) -> None:
        super().__init__(message)
        self.figures = figures


def _optional_model(label: str) -> Any:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _first_field(model: Any, names: tuple[str, ...]) -> str | None:
    fields = {f.name for f in model._meta.get_fields()}
    return next((n for n in names if n in fields), None)


def _abandoned_study_sessions(now: datetime) -> tuple[int | None, str]:
    model = _optional_model("learning.StudySession")
    if model is None:
        return None, "learning.StudySession does not exist: skipped"
    start = _first_field(model, ("started_at", "created_at", "created"))
    end = _first_field(model, ("ended_at", "finished_at", "completed_at"))
    if start is None or end is None:
        return None, "StudySession has no start/end fields this step understands: skipped"
    qs = model.objects.filter(
        **{f"{end}__isnull": True, f"{start}__lt": now - timedelta(hours=settings.OPS_ABANDONED_SESSION_HOURS)}
    )
    # Never let a delete cascade into review history or anything else.
    for rel in model._meta.related_objects:
        qs = qs.filter(**{f"{rel.name}__isnull": True})
    deleted = qs.delete()[1].get(model._meta.label, 0)
    return deleted, ""


def rollup_old_metrics(now: datetime) -> dict[str, int]:
    """Fold per-minute rows past the retention into hourly rows, then delete them."""
    cutoff = now - timedelta(days=settings.OPS_METRICS_MINUTE_RETENTION_DAYS)
    cutoff = cutoff.replace(minute=0, second=0, microsecond=0)  # whole hours only
    with transaction.atomic():
        old = RequestMetric.objects.filter(resolution=RequestMetric.Resolution.MINUTE, bucket_start__lt=cutoff)
        rows = list(old)
        folded = metrics.rows_to_aggregates(rows, lambda r: r.bucket_start.replace(minute=0))
        touched = metrics.write_aggregates(folded, resolution=RequestMetric.Resolution.HOUR)
        deleted = RequestMetric.objects.filter(pk__in=[r.pk for r in rows]).delete()[0] if rows else 0
    return {"minute_rows_deleted": deleted, "hour_rows_written": touched}


def _login_records_retention(now: datetime) -> dict[str, int]:
    """django-axes keeps usernames and addresses of log-ins and failures; they
    serve lock-outs (minutes) and the weekly security report (a week), so
    AXES_RECORD_RETENTION_DAYS (default 30) is plenty."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    cutoff = now - timedelta(days=settings.AXES_RECORD_RETENTION_DAYS)
    return {
        "failed_login_records_deleted": AccessFailureLog.objects.filter(attempt_time__lt=cutoff).delete()[0],
        "login_attempt_counters_deleted": AccessAttempt.objects.filter(attempt_time__lt=cutoff).delete()[0],
        "login_records_deleted": AccessLog.objects.filter(attempt_time__lt=cutoff).delete()[0],
    }


def step_retention(now: datetime) -> tuple[str, dict[str, Any]]:
    figures: dict[str, Any] = {}
    notes = []
    figures["expired_sessions_deleted"] = Session.objects.filter(expire_date__lt=now).delete()[0]
    abandoned, note = _abandoned_study_sessions(now)
    figures["abandoned_study_sessions_deleted"] = abandoned
    if note:
        notes.append(note)
    figures.update(rollup_old_metrics(now))
    figures["metric_flush_records_deleted"] = metrics.flushes_delete_expired(now=now)
    event = _optional_model("analytics.Event")
    if event is None:
        figures["events_deleted"] = None
        notes.append("analytics.Event does not exist: skipped")
    else:
        # Whole monthly partitions are dropped on PostgreSQL, rows deleted only from the one straddling the cut-off.
        figures.update(partitions.delete_events_before(now - timedelta(days=settings.OPS_EVENT_RETENTION_DAYS)))
    figures["expired_api_tokens_deleted"] = tokens_delete_expired(now=now)
    figures["audit_entries_deleted"] = audit.entries_delete_expired(now=now)
    figures.update(_login_records_retention(now))
    figures["probes_deleted"] = HealthProbe.objects.filter(
        checked_at__lt=now - timedelta(days=settings.OPS_PROBE_RETENTION_DAYS)
    ).delete()[0]
    return "; ".join(notes) or "Retention policy applied.", figures


def _busy_tables() -> list[str]:
    labels = ["ops.RequestMetric", "ops.HealthProbe", "ops.IncidentUpdate", "sessions.Session"]
    labels += ["analytics.Event", "learning.StudySession", "learning.Review", "learning.CardProgress"]
    existing = set(connection.introspection.table_names())
    tables = []
    for label in labels:
        model = _optional_model(label)
        if model is not None and model._meta.db_table in existing:
            tables.append(model._meta.db_table)
    return tables


def step_vacuum(now: datetime) -> tuple[str, dict[str, Any]]:
    tables = _busy_tables()
    qn = connection.ops.quote_name
    if connection.vendor == "postgresql":
        # VACUUM cannot run inside a transaction block.
        if connection.in_atomic_block:
            with connection.cursor() as cursor:
                for table in tables:
                    cursor.execute(f"ANALYZE {qn(table)}")
            return "In a transaction (tests): ran ANALYZE only.", {"tables": tables, "command": "ANALYZE"}
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"VACUUM (ANALYZE) {qn(table)}")
        return f"VACUUM (ANALYZE) on {len(tables)} tables.", {"tables": tables, "command": "VACUUM (ANALYZE)"}
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return "ANALYZE on the whole SQLite database.", {"tables": tables, "command": "ANALYZE"}


def step_size_report(now: datetime) -> tuple[str, dict[str, Any]]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_database_size(current_database())")
            total = cursor.fetchone()[0]
            cursor.execute(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 2 DESC LIMIT 10"
            )
            tables = [{"name": n, "bytes": b} for n, b in cursor.fetchall()]
            cursor.execute(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'i' AND n.nspname = 'public' ORDER BY 2 DESC LIMIT 10"
            )
            indexes = [{"name": n, "bytes": b} for n, b in cursor.fetchall()]
        else:
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            total = pages * cursor.fetchone()[0]
            try:
                cursor.execute(
                    "SELECT d.name, SUM(d.pgsize), m.type FROM dbstat d JOIN sqlite_master m ON m.name = d.name "
                    "GROUP BY d.name ORDER BY 2 DESC"
                )
                rows = cursor.fetchall()
            except Exception:  # SQLite built without dbstat
                rows = []
            tables = [{"name": n, "bytes": b} for n, b, t in rows if t == "table"][:10]
            indexes = [{"name": n, "bytes": b} for n, b, t in rows if t == "index"][:10]
    return f"Database is {total / 1024**2:.1f} MB.", {"database_bytes": total, "tables": tables, "indexes": indexes}


def week_performance(now: datetime) -> dict[str, Any]:
    since = now - timedelta(days=7)
    rows = RequestMetric.objects.filter(bucket_start__gte=since, bucket_start__lte=now)
    sums = rows.aggregate(
        requests=Sum("request_count"),
        errors=Sum("server_errors"),
        client=Sum("client_errors"),
        dur=Sum("duration_sum_ms"),
    )
    requests = sums["requests"] or 0
    hist = histogram.merge(h for h in rows.values_list("histogram", flat=True).iterator(chunk_size=2000))
    return {
        "requests": requests,
        "server_errors": sums["errors"] or 0,
        "client_errors": sums["client"] or 0,
        "error_rate": round((sums["errors"] or 0) / requests, 4) if requests else 0.0,
        "avg_duration_ms": round(sums["dur"] / requests, 2) if requests else None,
        "p95_duration_ms": histogram.percentile(hist, 0.95),
    }


def step_performance(now: datetime) -> tuple[str, dict[str, Any]]:
    figures = week_performance(now)
    if not figures["requests"]:
        return "No requests were recorded this week.", figures
    return (
        f"{figures['requests']} requests, avg {figures['avg_duration_ms']} ms, "
        f"p95 {figures['p95_duration_ms']} ms, error rate {figures['error_rate']:.2%}.",
        figures,
    )


def step_security(now: datetime) -> tuple[str, dict[str, Any]]:
    from axes.models import AccessAttempt, AccessFailureLog

    since = now - timedelta(days=7)
    failures = list(AccessFailureLog.objects.filter(attempt_time__gte=since).values_list("username", "ip_address"))
    if failures:
        total = len(failures)
        users = Counter(u or "" for u, _ in failures)
        addresses = Counter(ip or "" for _, ip in failures)
        source = "axes access failure log"
    else:
        # Older installs without the failure log: the per-pair attempt counters.
        users, addresses, total = Counter(), Counter(), 0
        for username, ip, count in AccessAttempt.objects.filter(attempt_time__gte=since).values_list(
            "username", "ip_address", "failures_since_start"
        ):
            users[username or ""] += count
            addresses[ip or ""] += count
            total += count
        source = "axes access attempts"
    figures = {
        "failed_logins": total,
        "top_usernames": users.most_common(5),
        "top_addresses": addresses.most_common(5),
        "source": source,
    }
    return f"{total} failed log-ins this week.", figures


def step_backup(now: datetime) -> tuple[str, dict[str, Any]]:
    """The latest backup's age and checksum (from ops.backups' manifests).

    The full restore drill is `manage.py verify_backup`; here the file is
    re-hashed and compared with its manifest, which catches corruption and loss."""
    from ops import backups

    manifest = backups.latest_backup()
    if manifest is None:
        raise StepWarning(
            f"No backup exists yet in {settings.BACKUP_DIR}: the data is NOT backed up. Run `manage.py backup`.",
            {"directory": str(settings.BACKUP_DIR), "backups": 0},
        )
    age_hours = round(manifest.age_hours(now), 1)
    figures: dict[str, Any] = {
        "file": manifest.file,
        "bytes": manifest.size_bytes,
        "created_at": manifest.created_at,
        "age_hours": age_hours,
        "sha256": manifest.sha256,
        "backups": len(backups.list_backups()),
    }
    if not manifest.path.exists():
        raise RuntimeError(f"The latest backup {manifest.file} is listed but its file is missing.")
    figures["checksum_matches"] = backups._sha256(manifest.path) == manifest.sha256
    if not figures["checksum_matches"]:
        raise RuntimeError(f"Backup {manifest.file} does not match its recorded checksum: it is corrupt.")
    if age_hours > settings.BACKUP_MAX_AGE_HOURS:
        raise RuntimeError(f"The latest backup is {age_hours} hours old (limit {settings.BACKUP_MAX_AGE_HOURS} h).")
    drill = BackupDrill.objects.filter(ran_at__lte=now).first()
    if drill is None:
        figures["last_drill"] = "never"
        return f"Latest backup {manifest.file} is {age_hours} h old; checksum verified; never restore-drilled.", figures
    figures["last_drill"] = f"{'passed' if drill.ok else 'FAILED'} {drill.ran_at:%Y-%m-%d %H:%M} ({drill.file or '-'})"
    if not drill.ok:
        raise RuntimeError(f"The last restore drill ({drill.file or 'no file'}) failed: {drill.message}")
    return f"Latest backup {manifest.file} is {age_hours} h old; checksum verified; last restore drill passed.", figures


STEPS: list[tuple[str, Callable[[datetime], tuple[str, dict[str, Any]]]]] = [
    ("Retention clean-up", step_retention),
    ("Vacuum and analyze", step_vacuum),
    ("Size report", step_size_report),
    ("Performance this week", step_performance),
    ("Failed log-ins this week", step_security),
    ("Backup check", step_backup),
]


def run_maintenance(*, trigger: str = "manual", now: datetime | None = None, email: bool = True) -> MaintenanceRun:
    now = now or timezone.now()
    run = MaintenanceRun.objects.create(started_at=now, trigger=trigger)
    failed = False
    for position, (name, step) in enumerate(STEPS, start=1):
        started = time.perf_counter()
        try:
            with transaction.atomic() if name != "Vacuum and analyze" else contextlib.nullcontext():
                message, figures = step(now)
            result = MaintenanceStep.Result.OK
        except StepWarning as warning:
            message, figures, result = str(warning), warning.figures, MaintenanceStep.Result.WARNING
        except Exception as exc:
            logger.exception("maintenance step %s failed", name)
            message, figures, result = f"{type(exc).__name__}: {exc}", {}, MaintenanceStep.Result.FAILED
            failed = True
        MaintenanceStep.objects.create(
            run=run,
            position=position,
            name=name,
            result=result,
            message=message,
            figures=_jsonable(figures),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
    run.status = MaintenanceRun.Status.PARTIAL if failed else MaintenanceRun.Status.OK
    run.finished_at = timezone.now() if now is None else max(timezone.now(), now)
    run.save(update_fields=["status", "finished_at"])
    if email:
        run.emailed_to = email_report(run)
        run.save(update_fields=["emailed_to"])
    return run


def _jsonable(value: Any) -> Any:
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def email_report(run: MaintenanceRun) -> list[str]:
    from ops.notify import admin_emails

    recipients = admin_emails()
    if not recipients:
        return []
    body = render_to_string("ops/maintenance_report_email.txt", {"run": run, "steps": run.steps.all()})
    send_mail(
        f"Weekly maintenance {run.started_at:%Y-%m-%d}: {run.get_status_display()}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )
    return recipients
