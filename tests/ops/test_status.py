from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ops import queries, services
from ops.models import HealthProbe, MaintenanceWindow

pytestmark = pytest.mark.django_db


def _probes(component: str, day: datetime, statuses: dict[str, int]) -> None:
    rows, minute = [], 0
    for status, count in statuses.items():
        for _ in range(count):
            rows.append(
                HealthProbe(
                    component=component, status=status, latency_ms=3, checked_at=day + timedelta(minutes=minute)
                )
            )
            minute += 1
    HealthProbe.objects.bulk_create(rows)


def test_uptime_equals_the_probe_history() -> None:
    now = timezone.now().replace(second=30, microsecond=0)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # Database: day -2 fully up (a probe every minute); day -1: 5 minutes partial
    # (degraded), 5 down and 10 with no probe at all; today up until now.
    _probes("database", today - timedelta(days=2), {"healthy": 1440})
    _probes("database", today - timedelta(days=1), {"healthy": 1420, "degraded": 5, "unhealthy": 5})
    HealthProbe.objects.filter(checked_at__gte=today - timedelta(minutes=10), checked_at__lt=today).delete()
    _probes("database", today, {"healthy": int((now - today).total_seconds() // 60)})
    bars = queries.uptime_bars(90, now=now)["database"]
    day_before = bars["bars"][-2]
    assert day_before["uptime"] == pytest.approx(100 * (1 - (5 + 10 + 0.3 * 5) / 1440), abs=0.001)
    assert day_before["status"] == "major_outage"
    assert (day_before["major"], day_before["partial"], day_before["unknown"]) == (5, 5, 10)
    assert bars["bars"][-3]["uptime"] == 100.0
    assert bars["bars"][0]["status"] == "no_data" and len(bars["bars"]) == 90
    expected = 2 * 1440 + int((now - today).total_seconds() // 60)
    assert bars["minutes"] == expected
    assert bars["uptime"] == pytest.approx(100 * (1 - 16.5 / expected), abs=0.001)


def test_status_api_is_public_and_matches_the_probes(api_for) -> None:
    now = timezone.now()
    for component in ("web", "database", "cache", "broker"):
        _probes(component, now - timedelta(minutes=4), {"healthy": 5})  # up to now
    _probes("workers", now - timedelta(minutes=4), {"healthy": 3})
    HealthProbe.objects.create(
        component="workers", status="unhealthy", latency_ms=1, checked_at=now - timedelta(seconds=5)
    )
    data = api_for(None).get("/api/v1/status/").json()
    assert data["components"]["web"]["status"] == "operational"
    assert data["components"]["workers"]["status"] == "major_outage"
    # Minutes -4, -3, -2 healthy; minute -1 had no probe (or the failing one):
    # an outage either way. The current minute is not counted yet.
    assert data["components"]["workers"]["uptime_90d"] == pytest.approx(75.0)
    assert data["components"]["database"]["uptime_90d"] == 100.0
    assert data["status"] == "partial_outage"  # workers down, web and database up
    assert len(data["components"]["web"]["bars"]) == 90


def test_overall_status_rules() -> None:
    def comp(**statuses: str) -> dict:
        return {name: {"status": s} for name, s in statuses.items()}

    assert queries.overall_status(comp(web="operational"), in_maintenance=False, open_incidents=0) == "operational"
    assert queries.overall_status(comp(web="operational"), in_maintenance=False, open_incidents=1) == "degraded"
    assert queries.overall_status(comp(cache="partial_outage"), in_maintenance=False, open_incidents=0) == "degraded"
    assert (
        queries.overall_status(comp(cache="major_outage"), in_maintenance=False, open_incidents=0) == "partial_outage"
    )
    assert (
        queries.overall_status(comp(database="major_outage"), in_maintenance=False, open_incidents=0) == "major_outage"
    )
    assert queries.overall_status(comp(database="major_outage"), in_maintenance=True, open_incidents=0) == "maintenance"


def test_stale_probes_show_unknown() -> None:
    HealthProbe.objects.create(
        component="web", status="healthy", latency_ms=1, checked_at=timezone.now() - timedelta(minutes=30)
    )
    assert queries.current_components()["web"]["status"] == "unknown"


def test_public_sees_only_public_updates_recent_incidents_and_upcoming_maintenance(client_for, admin) -> None:
    now = timezone.now()
    for component in queries.COMPONENTS:  # all probed and well: the open incident alone makes it "degraded"
        HealthProbe.objects.create(component=component, status="healthy", latency_ms=1, checked_at=now)
    active = services.incident_open(
        title="Slow sign-in", severity=2, public_message="We are looking into slow sign-ins"
    )
    services.incident_post_update(incident=active, user=admin, message="db pool exhausted on node-3", public=False)
    services.incident_post_update(
        incident=active, user=admin, message="Fix rolling out", public=True, status="identified"
    )
    past = services.incident_open(title="Uploads broke", severity=3, now=now - timedelta(days=3))
    services.incident_resolve(
        incident=past, user=admin, message="Uploads work again", now=now - timedelta(days=3) + timedelta(hours=1)
    )
    ancient = services.incident_open(title="Ancient history", severity=3, now=now - timedelta(days=20))
    services.incident_resolve(incident=ancient, user=admin, now=now - timedelta(days=19))
    MaintenanceWindow.objects.create(
        title="Database upgrade",
        message="Read-only for 10 minutes",
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, hours=1),
        components=["database"],
    )
    MaintenanceWindow.objects.create(
        title="Done already", starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=2) + timedelta(hours=1)
    )

    page = client_for(None).get("/status/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Slow sign-in" in html and "Fix rolling out" in html and "We are looking into slow sign-ins" in html
    assert "node-3" not in html  # internal updates stay internal
    assert "Uploads broke" in html and "Uploads work again" in html
    assert "Ancient history" not in html
    assert "Database upgrade" in html and "Done already" not in html
    assert "Degraded performance" in html

    data = client_for(None).get("/api/v1/status/").json()
    assert [i["title"] for i in data["active_incidents"]] == ["Slow sign-in"]
    assert [u["message"] for u in data["active_incidents"][0]["updates"]] == [
        "Fix rolling out",
        "We are looking into slow sign-ins",
    ]
    assert [i["title"] for i in data["recent_incidents"]] == ["Uploads broke"]
    assert [w["title"] for w in data["maintenance"]["upcoming"]] == ["Database upgrade"]


def test_active_maintenance_window_sets_the_status() -> None:
    now = timezone.now()
    MaintenanceWindow.objects.create(
        title="Now", starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(minutes=5), components=["database"]
    )
    HealthProbe.objects.create(component="database", status="healthy", latency_ms=1, checked_at=now)
    data = queries.status_page(now=now)
    assert data["status"] == "maintenance"
    assert data["components"]["database"]["status"] == "under_maintenance"


def test_status_page_is_cached_briefly(client_for, django_assert_num_queries) -> None:
    client = client_for(None)
    client.get("/status/")
    with django_assert_num_queries(0):
        assert client.get("/status/").status_code == 200
        assert client.get("/api/v1/status/").status_code == 200


def test_status_page_queries_do_not_grow_with_history(django_assert_max_num_queries) -> None:
    now = datetime.now(UTC)
    for day in range(30):
        for component in ("web", "database"):
            _probes(component, now - timedelta(days=day, hours=1), {"healthy": 5})
    # 5 latest probes, first probes, probes of the days not cached, windows x3,
    # open incidents (+updates), recent (+updates), switch
    with django_assert_max_num_queries(14):
        queries.status_page(now=now)


def test_run_probes_records_every_component() -> None:
    probes = services.run_probes()
    assert sorted(p.component for p in probes) == ["broker", "cache", "database", "web", "workers"]
    assert all(p.status == "healthy" for p in probes)  # eager Celery, locmem cache, test database
    assert all(p.latency_ms >= 0 for p in probes)


def test_only_the_anonymous_page_may_be_shared_by_caches(client_for, admin) -> None:
    assert client_for(None).get("/status/")["Cache-Control"].startswith("public")
    assert client_for(admin).get("/status/")["Cache-Control"].startswith("private")
    assert client_for(None).get("/api/v1/status/")["Cache-Control"].startswith("public")


def test_staff_schedule_maintenance_windows_through_the_api(api_for, admin, student, client_for) -> None:
    start = timezone.now() + timedelta(days=1)
    payload = {
        "title": "Search index rebuild",
        "message": "Search may be slow",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "components": ["database"],
    }
    assert api_for(student).post("/api/v1/ops/maintenance-windows/", payload, format="json").status_code == 403
    created = api_for(admin).post("/api/v1/ops/maintenance-windows/", payload, format="json")
    assert created.status_code == 201
    backwards = {**payload, "ends_at": (start - timedelta(hours=1)).isoformat()}
    bad = api_for(admin).post("/api/v1/ops/maintenance-windows/", backwards, format="json")
    assert bad.status_code == 400 and "ends_at" in bad.json()["error"]["details"]
    assert (
        api_for(admin)
        .post("/api/v1/ops/maintenance-windows/", {**payload, "components": ["moon"]}, format="json")
        .status_code
        == 400
    )
    assert MaintenanceWindow.objects.count() == 1
    assert "Search index rebuild" in client_for(None).get("/status/").content.decode()


def test_status_page_names_the_time_zone_its_times_are_shown_in(client_for) -> None:
    # A signed-in user sees their own zone; the page must not call that "UTC".
    from tests.factories import UserFactory

    now = timezone.now()
    MaintenanceWindow.objects.create(
        title="Database upgrade", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=1)
    )
    user = UserFactory(timezone="Pacific/Auckland")
    html = client_for(user).get("/status/").content.decode()
    assert " UTC<" not in html and ("NZDT" in html or "NZST" in html)
    anonymous = client_for(None).get("/status/").content.decode()
    assert "UTC" in anonymous


def test_unknown_never_rolls_up_to_operational() -> None:
    def comp(**overrides: str) -> dict:
        base = {c: {"status": "operational"} for c in queries.COMPONENTS}
        base.update({k: {"status": v} for k, v in overrides.items()})
        return base

    assert queries.overall_status(comp(workers="unknown"), in_maintenance=False, open_incidents=0) == "partial_outage"
    assert queries.overall_status(comp(database="unknown"), in_maintenance=False, open_incidents=0) == "major_outage"
    everything_unknown = comp(**dict.fromkeys(queries.COMPONENTS, "unknown"))
    assert queries.overall_status(everything_unknown, in_maintenance=False, open_incidents=0) == "major_outage"


def test_a_component_unprobed_for_two_minutes_is_unknown() -> None:
    now = timezone.now()
    HealthProbe.objects.create(component="web", status="healthy", latency_ms=1, checked_at=now - timedelta(seconds=90))
    HealthProbe.objects.create(component="cache", status="healthy", latency_ms=1, checked_at=now - timedelta(minutes=3))
    components = queries.current_components(now=now)
    assert components["web"]["status"] == "operational"
    assert components["cache"]["status"] == "unknown"
