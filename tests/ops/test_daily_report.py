"""The daily health report: yesterday's figures, mailed to admins once."""

from __future__ import annotations

from datetime import timedelta

from django.core import mail
from django.utils import timezone

from ops import daily_report, metrics, reports, services, uptime
from ops.models import HealthProbe, ReportRun


def test_the_report_holds_yesterdays_incidents_traffic_probes_backups_and_disk(admin) -> None:
    now = timezone.now()
    day = daily_report.yesterday(now)
    start = uptime.day_start(day)
    services.incident_open(title="Night errors", severity=2, now=start + timedelta(hours=2))
    services.incident_open(title="Last week", severity=3, now=start - timedelta(days=6))  # still open: listed
    for minute in range(20):
        metrics.record("GET", "/slow/", 900 + minute, 200, now=start + timedelta(hours=1, minutes=minute))
        metrics.record("GET", "/fast/", 5, 500 if minute < 2 else 200, now=start + timedelta(hours=1, minutes=minute))
    metrics.flush()
    HealthProbe.objects.bulk_create(
        HealthProbe(component="web", status="healthy", latency_ms=1, checked_at=start + timedelta(minutes=m))
        for m in range(1440)
    )
    report = daily_report.health_report(day, now=now)
    assert [i["title"] for i in report["incidents"]] == ["Night errors", "Last week"]
    assert report["requests"]["total"] == 40 and report["requests"]["errors"] == 2
    assert report["slowest"][0]["route"] == "GET /slow/"
    web = next(p for p in report["probes"] if p["component"] == "web")
    assert web["uptime_percent"] == 100.0 and web["expected_minutes"] == 1440
    assert report["disk"]["percent"] > 0 and report["database_bytes"] > 0


def test_it_is_mailed_once_a_day_with_growth_since_the_last(admin, django_capture_on_commit_callbacks) -> None:
    admin.email = "ada@example.com"
    admin.save()
    now = timezone.now()
    day = daily_report.yesterday(now)
    ReportRun.objects.create(kind="daily", period=(day - timedelta(days=1)).isoformat(), figures={"database_bytes": 1})
    with django_capture_on_commit_callbacks(execute=True):
        run = reports.daily_report_send(now=now)
        assert reports.daily_report_send(now=now) is None
    assert run.period == day.isoformat() and len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "Daily health report" in body and "since the last report" in body and "Backups: latest NONE" in body
