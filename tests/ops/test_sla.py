"""The monthly SLA report: its figures against an independent count of the
probes, incidents and restore drills; the page, CSV, print view, API, email
and command; who may see them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command

from ops import queries, reports, sla
from ops.models import BackupDrill, HealthProbe, Incident, MaintenanceWindow, ReportRun

COMPONENTS = ["web", "database", "cache", "broker", "workers"]
MONTH = date(2026, 11, 1)
T0 = datetime(2026, 11, 1, tzinfo=UTC)
MINUTES = 1500  # 2 Nov 01:00: a whole day and a bit of the month so far
NOW = T0 + timedelta(minutes=MINUTES)


def _status(component: str, minute: int) -> str | None:
    """The story of the month so far (None: no probe that minute)."""
    if component == "database" and 30 <= minute < 40:
        return "unhealthy"
    if component == "cache" and 50 <= minute < 60:
        return "degraded"
    if component == "workers" and 100 <= minute < 105:
        return None  # the worker host was down and nothing probed it
    if component == "web" and 1200 <= minute < 1230:
        return "unhealthy"  # inside the maintenance window: not counted
    return "healthy"


@pytest.fixture
def month_of_probes() -> None:
    rows = []
    for minute in range(MINUTES):
        for component in COMPONENTS:
            status = _status(component, minute)
            if status:
                rows.append(
                    HealthProbe(
                        component=component,
                        status=status,
                        latency_ms=2,
                        checked_at=T0 + timedelta(minutes=minute, seconds=3),
                    )
                )
    HealthProbe.objects.bulk_create(rows, batch_size=5000)
    MaintenanceWindow.objects.create(
        title="Upgrade",
        starts_at=T0 + timedelta(minutes=1200),
        ends_at=T0 + timedelta(minutes=1230),
        components=["web"],
    )


def _independent(component: str) -> tuple[int, float]:
    """Expected minutes and weighted downtime, counted straight from the stored rows."""
    by_minute: dict[int, set[str]] = {}
    for checked_at, status in HealthProbe.objects.filter(component=component).values_list("checked_at", "status"):
        by_minute.setdefault(int((checked_at - T0).total_seconds() // 60), set()).add(status)
    expected = downtime = 0
    for minute in range(MINUTES):
        if component == "web" and 1200 <= minute < 1230:
            continue
        expected += 1
        seen = by_minute.get(minute, set())
        if not seen or "unhealthy" in seen:
            downtime += 1
        elif "degraded" in seen:
            downtime += 0.3
    return expected, downtime


def test_availability_equals_an_independent_count_of_the_probes(month_of_probes) -> None:
    report = sla.monthly_report(MONTH, now=NOW)
    rows = {r["component"]: r for r in report["components"]}
    total_expected = total_down = 0.0
    for component in COMPONENTS:
        expected, downtime = _independent(component)
        total_expected += expected
        total_down += downtime
        assert rows[component]["expected_minutes"] == expected
        assert rows[component]["downtime_minutes"] == pytest.approx(downtime)
        assert rows[component]["uptime_percent"] == pytest.approx(100 * (1 - downtime / expected), abs=0.0005)
    assert rows["workers"]["unknown_minutes"] == 5  # the gap is downtime
    assert rows["database"]["major_outage_minutes"] == 10
    assert rows["cache"]["partial_outage_minutes"] == 10
    assert rows["web"]["maintenance_minutes"] == 30 and rows["web"]["downtime_minutes"] == 0
    overall = report["overall"]
    assert overall["uptime_percent"] == pytest.approx(100 * (1 - total_down / total_expected), abs=0.0005)
    # Error budget: 0.5 % of the database's 1,500 minutes is 7.5; 10 were used.
    assert rows["database"]["error_budget"]["allowed_minutes"] == pytest.approx(7.5)
    assert rows["database"]["error_budget"]["left_minutes"] == pytest.approx(-2.5)
    assert rows["database"]["met"] is False and rows["broker"]["met"] is True
    assert any("Database availability" in b for b in report["breaches"])


def test_the_status_page_uptime_is_the_same_computation(month_of_probes) -> None:
    report = sla.monthly_report(MONTH, now=NOW)
    bars = queries.uptime_bars(90, now=NOW)
    for row in report["components"]:
        # Every probe ever stored is in this month, so 90 days and the month agree exactly.
        assert bars[row["component"]]["uptime"] == row["uptime_percent"]
        assert bars[row["component"]]["minutes"] == row["expected_minutes"]
    day_one = bars["workers"]["bars"][-2]
    assert day_one["date"] == date(2026, 11, 1) and day_one["unknown"] == 5 and day_one["status"] == "major_outage"


def test_the_target_is_a_setting(month_of_probes, settings) -> None:
    settings.OPS_SLA_TARGET_PERCENT = 99.0
    report = sla.monthly_report(MONTH, now=NOW)
    assert report["target_percent"] == 99.0 and not any("availability" in b for b in report["breaches"])
    assert all(r["met"] for r in report["components"])


def test_incident_figures_mttd_mtta_mttr_and_severities(month_of_probes) -> None:
    stated = Incident.objects.create(
        title="Web errors",
        severity=1,
        components=[],
        triggered_at=T0 + timedelta(hours=10),
        impact_started_at=T0 + timedelta(hours=10) - timedelta(minutes=4),
        acknowledged_at=T0 + timedelta(hours=10, minutes=6),
        time_to_acknowledge_s=360,
        resolved_at=T0 + timedelta(hours=10, minutes=30),
        time_to_resolve_s=1800,
        status="resolved",
    )
    # The database failed from minute 30; detection opened this after two
    # failing probes, at 32:10: the probes say impact began at minute 30.
    from_probes = Incident.objects.create(
        title="Database down",
        severity=3,
        components=["database"],
        triggered_at=T0 + timedelta(minutes=32, seconds=10),
        time_to_acknowledge_s=120,
        response_breached=True,
    )
    Incident.objects.create(title="Last month", severity=2, triggered_at=T0 - timedelta(minutes=1))
    figures = sla.monthly_report(MONTH, now=NOW)["incidents"]
    assert figures["total"] == 2
    assert figures["by_severity"] == {"SEV1": 1, "SEV2": 0, "SEV3": 1, "SEV4": 0}
    detect = {row["id"]: row["detect_s"] for row in figures["incidents"]}
    assert detect[stated.pk] == 240
    assert detect[from_probes.pk] == 2 * 60 + 10
    assert figures["mttd_minutes"] == pytest.approx(round((240 + 130) / 2 / 60, 1))
    assert figures["mtta_minutes"] == pytest.approx(round((360 + 120) / 2 / 60, 1))
    assert figures["mttr_minutes"] == 30.0
    assert [row["id"] for row in figures["breached"]] == [from_probes.pk]


def test_backup_success_rate_counts_nights_without_a_verified_backup() -> None:
    for day, ok in ((0, True), (1, False), (2, True)):
        BackupDrill.objects.create(ran_at=T0 + timedelta(days=day, hours=2), ok=ok, trigger="beat", file=f"b{day}")
    BackupDrill.objects.create(ran_at=T0 + timedelta(days=1, hours=9), ok=True, trigger="page", file="b1")
    backups = sla.monthly_report(MONTH, now=T0 + timedelta(days=2, hours=3))["backups"]
    assert (backups["nights_expected"], backups["nights_ok"]) == (3, 2)
    assert backups["success_rate_percent"] == pytest.approx(66.7)
    assert backups["missed_nights"] == [date(2026, 11, 2)]
    assert (backups["drills"]["total"], backups["drills"]["failed"]) == (4, 1)


def _some_probes() -> None:
    HealthProbe.objects.bulk_create(
        HealthProbe(component=c, status="healthy", latency_ms=1, checked_at=datetime.now(UTC) - timedelta(minutes=m))
        for c in COMPONENTS
        for m in range(1, 5)
    )


def test_staff_see_the_page_csv_and_print_view(client_for, admin) -> None:
    _some_probes()
    client = client_for(admin)
    this_month = sla.current_month().strftime("%Y-%m")
    assert client.get("/ops/sla/").url == f"/ops/sla/{this_month}/"
    page = client.get(f"/ops/sla/{this_month}/")
    assert page.status_code == 200 and b"Error budget left" in page.content and b"data-overall-uptime" in page.content
    printed = client.get(f"/ops/sla/{this_month}/print/")
    assert printed.status_code == 200 and b'class="topbar"' not in printed.content
    csv = client.get(f"/ops/sla/{this_month}.csv")
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().splitlines()
    assert lines[0].startswith("month,component,uptime_percent") and any(",overall," in line for line in lines)
    assert client.get("/ops/sla/2026-13/").status_code == 404
    assert client.get("/ops/sla/2999-01/").status_code == 404


def test_anonymous_and_students_cannot_see_sla(client_for, api_for, student) -> None:
    assert client_for(None).get("/ops/sla/").status_code == 302
    assert client_for(student).get("/ops/sla/2026-11/").status_code == 403
    assert api_for(None).get("/api/v1/sla/").status_code in (401, 403)
    assert api_for(student).get("/api/v1/sla/").status_code == 403


def test_api_lists_months_and_returns_one(api_for, admin) -> None:
    _some_probes()
    client = api_for(admin)
    listing = client.get("/api/v1/sla/").json()
    assert listing["count"] >= 1 and set(listing) == {"count", "next", "previous", "results"}
    first = listing["results"][0]
    assert first["month"] == sla.current_month().strftime("%Y-%m") and first["target_percent"] == 99.5
    detail = client.get(f"/api/v1/sla/{first['month']}/").json()
    assert {"overall", "components", "incidents", "backups", "breaches"} <= set(detail)
    bad = client.get("/api/v1/sla/november/")
    assert bad.status_code == 404 and "error" in bad.json()


def test_the_report_is_emailed_to_admins_once_per_month(admin, django_capture_on_commit_callbacks) -> None:
    admin.email = "ada@example.com"
    admin.save()
    with django_capture_on_commit_callbacks(execute=True):
        run = reports.sla_report_send(month=MONTH, now=NOW)
    assert run is not None and run.emailed_to == ["ada@example.com"]
    assert len(mail.outbox) == 1 and "SLA report November 2026" in mail.outbox[0].subject
    assert "Overall" in mail.outbox[0].body and mail.outbox[0].alternatives
    with django_capture_on_commit_callbacks(execute=True):
        assert reports.sla_report_send(month=MONTH, now=NOW) is None  # a retried beat job
    assert len(mail.outbox) == 1 and ReportRun.objects.filter(kind="sla").count() == 1


def test_the_command_prints_and_sends(admin, capsys, django_capture_on_commit_callbacks) -> None:
    admin.email = "ada@example.com"
    admin.save()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sla_report", "--month", "2026-11")
    out = capsys.readouterr().out
    assert "SLA report November 2026" in out and "Overall" in out and "Emailed to 1" in out
    assert len(mail.outbox) == 1
    with pytest.raises(Exception, match="YYYY-MM"):
        call_command("sla_report", "--month", "nov")


def test_the_beat_schedule_is_seeded() -> None:
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    importlib.import_module("ops.migrations.0011_sla_report_schedule").seed(apps, None)  # in case a flush ran

    task = PeriodicTask.objects.get(name="ops: monthly SLA report")
    assert task.task == "ops.tasks.sla_report" and task.crontab.day_of_month == "1"


def test_performance_of_the_month_is_every_request_in_it(settings) -> None:
    from ops import metrics

    now = T0 + timedelta(days=2, hours=1)
    for day in range(3):
        for i in range(10):
            at = T0 + timedelta(days=day, minutes=i)
            metrics.record("GET", "/decks/", 100 + 10 * i, 500 if (day, i) == (1, 0) else 200, now=at)
    metrics.record("GET", "/decks/", 5000, 200, now=T0 - timedelta(minutes=1))  # October
    metrics.flush()
    perf = sla.monthly_report(MONTH, now=now)["performance"]
    assert perf["requests"] == 30 and perf["error_rate_percent"] == pytest.approx(100 / 30, abs=0.01)
    assert 150 <= perf["p95_ms"] <= 200
    # Finished days come from the cache the second time; the figures do not change.
    assert sla.monthly_report(MONTH, now=now)["performance"] == perf
