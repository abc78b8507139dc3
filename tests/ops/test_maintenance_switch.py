"""A scheduled maintenance window as one switch: maintenance mode, status
page, snoozed detection and paging, SLA exclusion, grace for streaks; and all
of it back when the window ends, said on the timelines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from learning.models import GraceWindow
from lms import chart_annotations
from ops import queries, services, uptime, windows
from ops.models import HealthProbe, Incident, MaintenanceWindow

CALM = {"cpu": {"percent": 10}, "memory": {"percent": 30}, "disk": {"percent": 40}}


@pytest.fixture(autouse=True)
def _rules() -> None:
    import importlib

    from django.apps import apps

    importlib.import_module("ops.migrations.0002_seed_rules_and_schedules").seed(apps, None)


def _window(now, **extra) -> MaintenanceWindow:
    return services.maintenance_window_create(
        title="Database upgrade",
        message="Read-only for a few minutes.",
        starts_at=now + timedelta(minutes=1),
        ends_at=now + timedelta(minutes=31),
        components=["database"],
        now=now,
        **extra,
    )


def _failing_database(at) -> None:
    HealthProbe.objects.bulk_create(
        HealthProbe(component="database", status="unhealthy", latency_ms=1, checked_at=at - timedelta(minutes=m))
        for m in range(3)
    )


def test_a_window_turns_maintenance_mode_on_and_off_and_says_so(admin) -> None:
    now = timezone.now()
    window = _window(now, maintenance_mode=True, user=admin)
    assert windows.maintenance_tick(now=now)["started"] == []  # not yet
    start = now + timedelta(minutes=2)
    assert windows.maintenance_tick(now=start)["started"] == [window.pk]
    window.refresh_from_db()
    assert services.maintenance_mode_on() and window.switched_mode_on and window.started_at == start
    assert "Maintenance mode turned on." in [e["message"] for e in window.timeline]
    data = queries.status_page(now=start)
    assert data["status"] == "maintenance" and data["components"]["database"]["status"] == "under_maintenance"
    assert windows.maintenance_tick(now=start + timedelta(minutes=1)) == {
        "started": [],
        "ended": [],
        "grace_windows": 1,
    }
    end = now + timedelta(minutes=32)
    assert windows.maintenance_tick(now=end)["ended"] == [window.pk]
    window.refresh_from_db()
    assert not services.maintenance_mode_on() and window.ended_at == end
    messages = [e["message"] for e in window.timeline]
    assert "Maintenance mode turned off." in messages and any("detection and paging are back" in m for m in messages)


def test_the_window_snoozes_its_components_rules_and_the_end_returns_them(admin, mailoutbox) -> None:
    now = timezone.now()
    _window(now)
    during = now + timedelta(minutes=10)
    windows.maintenance_tick(now=during)
    _failing_database(during)
    report = services.detection_pass(now=during, resources=CALM)
    assert report["probe-database"]["action"] == "snoozed"
    assert report["error-rate"]["action"] != "snoozed"  # web is not in maintenance
    assert not Incident.objects.filter(rule__slug="probe-database").exists()
    # After the end the same failing probes open the incident (and page).
    after = now + timedelta(minutes=40)
    windows.maintenance_tick(now=after)
    _failing_database(after)
    report = services.detection_pass(now=after, resources=CALM)
    assert report["probe-database"]["action"] == "opened"


def test_paging_is_snoozed_for_an_incident_of_components_in_maintenance(
    admin, django_capture_on_commit_callbacks
) -> None:
    admin.email = "ada@example.com"
    admin.save()
    now = timezone.now()
    services.maintenance_window_create(
        title="Cache swap",
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(minutes=30),
        components=["cache"],
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_open(title="Cache flapping", severity=1, components=["cache"])
    assert not [m for m in mail.outbox if "Incident opened" in m.subject]
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_open(title="Web down", severity=1, components=["web"])
    assert [m for m in mail.outbox if "Incident opened: Web down" in m.subject]


def test_open_incidents_hear_of_the_window_on_their_timeline(admin) -> None:
    now = timezone.now()
    incident = services.incident_open(title="Slow queries", severity=3, components=["database"], now=now)
    _window(now)
    windows.maintenance_tick(now=now + timedelta(minutes=2))
    windows.maintenance_tick(now=now + timedelta(minutes=40))
    texts = list(incident.updates.values_list("message", flat=True))
    assert any("started: detection and paging snoozed" in t for t in texts)
    assert any("ended: detection and paging are back" in t for t in texts)


def test_maintenance_is_left_out_of_uptime_and_exposed_to_other_apps() -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(minutes=30)
    MaintenanceWindow.objects.create(title="Planned", starts_at=start, ends_at=now - timedelta(minutes=20))
    assert uptime.in_maintenance(start + timedelta(minutes=5), start + timedelta(minutes=6), "database")
    assert not uptime.in_maintenance(now - timedelta(minutes=10), now)
    # Other apps ask lms.chart_annotations (ops registered its provider at start-up).
    assert chart_annotations.in_maintenance(start, start + timedelta(minutes=1))
    assert not chart_annotations.in_maintenance(now - timedelta(minutes=10), now)
    marks = chart_annotations.between(start - timedelta(hours=1), now)
    assert [m.kind for m in marks] == ["maintenance"] and marks[0].label == "Maintenance: Planned"


def test_grace_windows_for_sev1_sev2_and_study_maintenance_only(admin) -> None:
    now = timezone.now()
    sev1 = services.incident_open(title="Web down", severity=1, components=["web"], now=now - timedelta(hours=2))
    services.incident_resolve(incident=sev1, user=admin, now=now - timedelta(hours=1))
    services.incident_open(title="Minor", severity=3, components=["web"], now=now - timedelta(hours=2))
    services.incident_open(title="Workers only", severity=1, components=["workers"], now=now - timedelta(hours=2))
    windows.grace_sync(now=now)
    grace = GraceWindow.objects.get()
    assert grace.key == f"ops:incident:{sev1.pk}" and grace.ends_at == now - timedelta(hours=1)


def test_the_staff_page_shows_the_switch_and_its_timeline(client_for, admin) -> None:
    now = timezone.now()
    window = _window(now, maintenance_mode=True)
    windows.maintenance_tick(now=now + timedelta(minutes=2))
    page = client_for(admin).get("/ops/maintenance/windows/")
    assert b"maintenance mode</span>" in page.content and b"Maintenance mode turned on." in page.content
    form = client_for(admin).get(f"/ops/maintenance/windows/{window.pk}/edit/")
    assert b'name="maintenance_mode"' in form.content and b"checked" in form.content
