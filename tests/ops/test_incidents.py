from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from ops import services
from ops.models import Incident

pytestmark = pytest.mark.django_db


def _declare(**kwargs: object) -> Incident:
    return services.incident_open(**{"title": "Search is slow", "severity": 3, **kwargs})


# --- API -------------------------------------------------------------------------------


def test_staff_declare_act_and_resolve_through_the_api(api_for, admin) -> None:
    client = api_for(admin)
    created = client.post(
        "/api/v1/incidents/",
        {
            "title": "Log-in fails",
            "severity": 2,
            "components": ["web", "database"],
            "public_message": "Looking into it",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["status"], body["severity"], body["source"]) == ("triggered", 2, "manual")
    assert body["updates"][0]["public"] and body["updates"][0]["message"] == "Looking into it"
    pk = body["id"]

    ack = client.post(f"/api/v1/incidents/{pk}/acknowledge/")
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    assert ack.json()["commander"] == admin.username and ack.json()["time_to_acknowledge_s"] is not None
    assert client.post(f"/api/v1/incidents/{pk}/acknowledge/").status_code == 409

    update = client.post(
        f"/api/v1/incidents/{pk}/updates/",
        {"message": "Found a bad deploy", "status": "identified", "severity": 1, "public": True},
        format="json",
    )
    assert update.status_code == 201
    assert update.json()["status"] == "identified" and update.json()["severity"] == 1
    back = client.post(f"/api/v1/incidents/{pk}/updates/", {"message": "x", "status": "investigating"}, format="json")
    assert back.status_code == 400 and back.json()["error"]["code"] == "validation_error"

    resolved = client.post(f"/api/v1/incidents/{pk}/resolve/", {"message": "Rolled back"}, format="json")
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert resolved.json()["time_to_resolve_s"] is not None
    assert client.post(f"/api/v1/incidents/{pk}/resolve/").status_code == 409

    pm = client.post(
        f"/api/v1/incidents/{pk}/postmortem/",
        {"summary": "Bad deploy", "root_cause": "Missing migration", "action_items": "Check migrations in CI"},
        format="json",
    )
    assert pm.status_code == 200 and pm.json()["postmortem"]["root_cause"] == "Missing migration"
    statuses = [u["status"] for u in client.get(f"/api/v1/incidents/{pk}/").json()["updates"]]
    assert statuses == ["triggered", "acknowledged", "identified", "resolved", ""]


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "", "severity": 2},
        {"title": "x", "severity": 5},
        {"title": "x", "severity": 2, "components": ["moon"]},
        {"severity": 2},
    ],
)
def test_bad_declarations_are_400_and_write_nothing(api_for, admin, payload: dict) -> None:
    response = api_for(admin).post("/api/v1/incidents/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not Incident.objects.exists()


def test_empty_postmortem_summary_is_rejected(api_for, admin) -> None:
    incident = _declare()
    response = api_for(admin).post(f"/api/v1/incidents/{incident.pk}/postmortem/", {"summary": ""}, format="json")
    assert response.status_code == 400


def test_list_puts_open_first_and_filters(api_for, admin) -> None:
    old = _declare(title="Old", severity=1)
    services.incident_resolve(incident=old, user=admin)
    sev4 = _declare(title="Typo", severity=4, components=["web"])
    sev2 = _declare(title="Queue", severity=2, components=["workers"])
    client = api_for(admin)
    rows = client.get("/api/v1/incidents/").json()["results"]
    assert [r["id"] for r in rows] == [sev2.pk, sev4.pk, old.pk]
    assert [r["id"] for r in client.get("/api/v1/incidents/?status=open").json()["results"]] == [sev2.pk, sev4.pk]
    assert [r["id"] for r in client.get("/api/v1/incidents/?component=workers").json()["results"]] == [sev2.pk]
    assert [r["id"] for r in client.get("/api/v1/incidents/?severity=4").json()["results"]] == [sev4.pk]
    assert client.get("/api/v1/incidents/?severity=9").status_code == 400


@pytest.mark.parametrize("count", [3, 15])
def test_incident_list_api_query_count_does_not_grow(api_for, admin, count: int, django_assert_max_num_queries) -> None:
    for i in range(count):
        _declare(title=f"Incident {i}", commander=admin)
    client = api_for(admin)
    with django_assert_max_num_queries(4):  # auth user (forced) / count / page with commander+rule joined
        assert len(client.get("/api/v1/incidents/").json()["results"]) == count


def test_non_staff_get_403_from_the_incident_api(api_for, student, teacher) -> None:
    incident = _declare()
    for user in (student, teacher):
        client = api_for(user)
        assert client.get("/api/v1/incidents/").status_code == 403
        assert client.get(f"/api/v1/incidents/{incident.pk}/").status_code == 403
        assert client.post(f"/api/v1/incidents/{incident.pk}/acknowledge/").status_code == 403
        assert client.post("/api/v1/incidents/", {"title": "x", "severity": 1}, format="json").status_code == 403
    assert api_for(None).get("/api/v1/incidents/").status_code == 401
    incident.refresh_from_db()
    assert incident.status == "triggered"


def test_severity_change_is_recorded_and_escalation_notifies(
    api_for, admin, django_capture_on_commit_callbacks
) -> None:
    from django.core import mail

    incident = _declare(severity=3)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(admin).post(f"/api/v1/incidents/{incident.pk}/severity/", {"severity": 1}, format="json")
    assert response.status_code == 200 and response.json()["severity"] == 1
    assert response.json()["updates"][-1]["severity"] == 1
    assert any("ESCALATED" in m.subject for m in mail.outbox)
    assert (
        api_for(admin).post(f"/api/v1/incidents/{incident.pk}/severity/", {"severity": 7}, format="json").status_code
        == 400
    )


def test_missing_incident_is_404(api_for, admin) -> None:
    assert api_for(admin).get("/api/v1/incidents/999/").status_code == 404


# --- Breaches --------------------------------------------------------------------------------


def test_late_acknowledgement_and_resolution_are_flagged_as_breaches(admin) -> None:
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    incident = _declare(severity=1, now=start)
    services.incident_acknowledge(incident=incident, user=admin, now=start + timedelta(minutes=20))
    incident.refresh_from_db()
    assert incident.response_breached and not incident.resolution_breached
    assert incident.time_to_acknowledge_s == 20 * 60
    services.incident_resolve(incident=incident, user=admin, now=start + timedelta(hours=3))
    incident.refresh_from_db()
    assert incident.resolution_breached and incident.time_to_resolve_s == 3 * 3600


def test_targets_met_are_not_breaches(admin) -> None:
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    incident = _declare(severity=2, now=start)
    services.incident_acknowledge(incident=incident, user=admin, now=start + timedelta(minutes=29))
    services.incident_resolve(incident=incident, user=admin, now=start + timedelta(hours=3, minutes=59))
    incident.refresh_from_db()
    assert not incident.breached


# --- Pages -----------------------------------------------------------------------------------


def test_incident_pages_work_for_staff(client_for, admin) -> None:
    incident = _declare(components=["web"])
    client = client_for(admin)
    assert client.get(reverse("ops:incident_list")).status_code == 200
    page = client.get(reverse("ops:incident_detail", args=[incident.pk]))
    assert page.status_code == 200 and b"Search is slow" in page.content and b"Acknowledge" in page.content

    client.post(reverse("ops:incident_action", args=[incident.pk, "acknowledge"]))
    client.post(
        reverse("ops:incident_action", args=[incident.pk, "update"]),
        {"message": "Index rebuilt", "status": "monitoring", "public": "on"},
    )
    client.post(reverse("ops:incident_action", args=[incident.pk, "resolve"]), {"message": "Fast again"})
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert list(incident.updates.values_list("status", flat=True)) == [
        "triggered",
        "acknowledged",
        "monitoring",
        "resolved",
    ]
    bad = client.post(reverse("ops:incident_action", args=[incident.pk, "postmortem"]), {"summary": ""})
    assert bad.status_code == 400
    client.post(reverse("ops:incident_action", args=[incident.pk, "postmortem"]), {"summary": "Index missing"})
    incident.refresh_from_db()
    assert incident.postmortem_summary == "Index missing"


def test_incident_page_labels_each_message_box_once(client_for, admin) -> None:
    # The update and resolve forms both have a "message": one id each, or the
    # second label points at the first box and the resolve box has no label.
    incident = _declare()
    text = client_for(admin).get(reverse("ops:incident_detail", args=[incident.pk])).content.decode()
    assert text.count('id="id_message"') == 1
    assert '<label for="id_resolve_message">' in text and 'id="id_resolve_message"' in text


def test_declaring_from_the_page(client_for, admin) -> None:
    response = client_for(admin).post(
        reverse("ops:incident_new"), {"title": "Uploads failing", "severity": "2", "components": ["web"]}
    )
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("ops:incident_detail", args=[incident.pk])
    assert incident.components == ["web"] and incident.severity == 2


def test_list_page_filters_and_marks_breaches(client_for, admin) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    late = _declare(title="Late one", severity=1, now=start)
    services.escalate_overdue()
    _declare(title="Fresh one", severity=4, components=["cache"])
    client = client_for(admin)
    page = client.get(reverse("ops:incident_list")).content.decode()
    assert "response breached" in page and page.index("Late one") < page.index("Fresh one")
    assert "mean time to acknowledge" in page
    filtered = client.get(reverse("ops:incident_list"), {"component": "cache"}).content.decode()
    assert "Fresh one" in filtered and "Late one" not in filtered
    assert late.pk


@pytest.mark.parametrize("count", [3, 20])
def test_incident_list_page_query_count_does_not_grow(
    client_for, admin, count: int, django_assert_max_num_queries
) -> None:
    for i in range(count):
        _declare(title=f"Incident {i}", commander=admin)
    client = client_for(admin)
    # user (the session is cached), one aggregate for the stats, page count, page rows (commander and rule joined)
    with django_assert_max_num_queries(5):
        assert client.get(reverse("ops:incident_list")).status_code == 200


@pytest.mark.parametrize(
    "name,args",
    [
        ("ops:dashboard", []),
        ("ops:performance", []),
        ("ops:incident_list", []),
        ("ops:incident_new", []),
        ("ops:maintenance_runs", []),
    ],
)
def test_staff_pages_refuse_non_staff(client_for, student, teacher, admin, name: str, args: list) -> None:
    url = reverse(name, args=args)
    assert client_for(student).get(url).status_code == 403
    assert client_for(teacher).get(url).status_code == 403
    anon = client_for(None).get(url)
    assert anon.status_code == 302 and "/accounts/login/" in anon["Location"]
    assert client_for(admin).get(url).status_code == 200


def test_non_staff_cannot_act_on_an_incident(client_for, student) -> None:
    incident = _declare()
    response = client_for(student).post(reverse("ops:incident_action", args=[incident.pk, "resolve"]))
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.is_open


def test_admin_lands_on_the_ops_dashboard(client_for, admin) -> None:
    response = client_for(admin).get("/")
    assert response.status_code == 302 and response["Location"] == reverse("ops:dashboard")


def test_demo_incidents_page_nobody(mailoutbox, django_capture_on_commit_callbacks) -> None:
    from lms.demo import seed_demo

    with django_capture_on_commit_callbacks(execute=True):
        seed_demo()
    assert mailoutbox == []
