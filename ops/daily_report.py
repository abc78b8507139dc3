"""Reads: the daily health report (phase 11's daily operations checklist):
yesterday's incidents, error rate, p95 and slowest routes, availability from
the probes, backups, disk and database growth."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ops import queries, system, uptime
from ops.backups import latest_backup
from ops.maintenance import step_size_report
from ops.models import BackupDrill, HealthProbe, Incident, ReportRun

SLOWEST = 5
MIN_REQUESTS_FOR_SLOWEST = 10


def yesterday(now: datetime | None = None) -> date:
    return timezone.localtime(now or timezone.now(), timezone.get_default_timezone()).date() - timedelta(days=1)


def health_report(day: date, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    start, end = uptime.day_start(day), uptime.day_start(day + timedelta(days=1))
    incidents = list(
        Incident.objects.filter(Q(triggered_at__gte=start, triggered_at__lt=end) | ~Q(status=Incident.Status.RESOLVED))
        .filter(triggered_at__lt=end)
        .order_by("severity", "triggered_at")
    )
    folded = queries.fold_between(start, end)
    totals = queries.totals(folded=folded)
    routes = [r for r in queries.performance(folded=folded).values() if r["request_count"] >= MIN_REQUESTS_FOR_SLOWEST]
    slowest = sorted(routes, key=lambda r: r["duration_ms"]["p95"] or 0, reverse=True)[:SLOWEST]
    per_day = uptime.daily(day, day, now=now)
    probes = [
        {"component": c.value, "label": c.label, **(per_day.get((c.value, day)) or uptime.Availability()).as_dict()}
        for c in HealthProbe.Component
    ]
    backup = latest_backup()
    drill = BackupDrill.objects.first()
    disk = system.snapshot(cpu_interval=0)["disk"]
    size = step_size_report(now)[1]["database_bytes"]
    previous = (
        ReportRun.objects.filter(kind=ReportRun.Kind.DAILY, period__lt=day.isoformat())
        .order_by("-period")
        .values_list("figures", flat=True)
        .first()
    )
    before = (previous or {}).get("database_bytes")
    return {
        "day": day.isoformat(),
        "title": day.strftime("%A %d %B %Y"),
        "generated_at": now,
        "incidents": [
            {
                "id": i.pk,
                "title": i.title,
                "severity": i.severity,
                "status": i.status,
                "triggered_at": i.triggered_at,
                "resolved_at": i.resolved_at,
                "new": i.triggered_at >= start,
            }
            for i in incidents
        ],
        "requests": totals["requests"],
        "p95_ms": totals["performance"]["p95_duration_ms"],
        "slowest": [
            {
                "route": f"{r['method']} {r['endpoint']}",
                "p95_ms": r["duration_ms"]["p95"],
                "requests": r["request_count"],
            }
            for r in slowest
        ],
        "probes": probes,
        "backup": {
            "file": backup.file if backup else None,
            "age_hours": backup.age_hours(now) if backup else None,
            "last_drill_ok": drill.ok if drill else None,
            "last_drill_at": drill.ran_at if drill else None,
            "last_drill_message": drill.message if drill else "",
        },
        "disk": disk,
        "database_bytes": size,
        "database_growth_bytes": size - before if before is not None else None,
    }
