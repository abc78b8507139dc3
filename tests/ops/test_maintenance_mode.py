from __future__ import annotations

import pytest
from django.core.management import call_command

from lms.tokens import token_issue
from ops import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def maintenance_on(admin) -> None:
    services.maintenance_mode_set(on=True, message="Upgrading the database, back at 10:30.")


def test_admin_switches_it_on_through_the_api(api_for, admin, client_for, student) -> None:
    response = api_for(admin).post("/api/v1/ops/maintenance/", {"enabled": True, "message": "Back soon"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"enabled": True, "message": "Back soon", "retry_after": 600}
    assert client_for(student).get("/accounts/profile/").status_code == 503
    # While it is on, the admin still reaches the API (with a real token: the
    # middleware runs before DRF's authentication).
    _, token = token_issue(user=admin)
    off = api_for(None).post(
        "/api/v1/ops/maintenance/", {"enabled": False}, format="json", HTTP_AUTHORIZATION=f"Token {token}"
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert client_for(student).get("/accounts/profile/").status_code == 200


def test_only_admins_may_switch_it(api_for, teacher, student) -> None:
    for user in (teacher, student):
        assert api_for(user).post("/api/v1/ops/maintenance/", {"enabled": True}, format="json").status_code == 403
    assert not services.maintenance_mode_on()
    assert api_for(None).post("/api/v1/ops/maintenance/", {"enabled": True}, format="json").status_code == 401


def test_bad_payload_is_400(api_for, admin) -> None:
    response = api_for(admin).post("/api/v1/ops/maintenance/", {"enabled": "maybe"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"
    assert not services.maintenance_mode_on()


@pytest.mark.usefixtures("maintenance_on")
def test_student_gets_a_503_page_with_retry_after(client_for, student) -> None:
    response = client_for(student).get("/accounts/profile/")
    assert response.status_code == 503
    assert response["Retry-After"] == "600"
    assert b"Upgrading the database, back at 10:30." in response.content


@pytest.mark.usefixtures("maintenance_on")
def test_api_clients_get_the_error_shape(api_for, student) -> None:
    _, token = token_issue(user=student)
    response = api_for(None).get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 503 and response["Retry-After"] == "600"
    assert response.json()["error"] == {
        "code": "maintenance",
        "message": "Upgrading the database, back at 10:30.",
        "details": {"retry_after": 600},
    }


@pytest.mark.usefixtures("maintenance_on")
def test_staff_and_probes_still_get_through(client_for, api_for, admin) -> None:
    assert client_for(admin).get("/accounts/profile/").status_code == 200
    _, token = token_issue(user=admin)
    assert api_for(None).get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    anon = client_for(None)
    assert anon.get("/health/live/").status_code == 200
    assert anon.get("/health/").status_code == 200
    assert anon.get("/status/").status_code == 200
    assert anon.get("/api/v1/status/").json()["status"] == "maintenance"
    assert anon.get("/metrics").status_code == 200
    assert anon.get("/accounts/login/").status_code == 200  # staff must be able to sign in
    assert anon.get("/").status_code == 503


def test_management_command(capsys) -> None:
    call_command("maintenance_mode", "on", "--message", "Disk swap")
    assert services.maintenance_mode_on() and services.maintenance_message() == "Disk swap"
    call_command("maintenance_mode", "off")
    assert not services.maintenance_mode_on()
    assert "off" in capsys.readouterr().out


def test_dashboard_toggle_is_admin_only(client_for, admin, teacher) -> None:
    assert client_for(teacher).post("/ops/maintenance/mode/", {"enabled": "on"}).status_code == 403
    assert not services.maintenance_mode_on()
    client_for(admin).post("/ops/maintenance/mode/", {"enabled": "on", "message": "Quick fix"})
    assert services.maintenance_mode_on()


def test_a_switch_flipped_by_another_process_is_seen_within_seconds(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from waffle.models import Switch

    settings.OPS_MAINTENANCE_CHECK_SECONDS = 5
    Switch.objects.create(name="maintenance-mode", active=False)
    services.forget_switch()
    assert not services.maintenance_mode_on()
    Switch.objects.filter(name="maintenance-mode").update(active=True, note="Elsewhere")  # no signal here
    assert not services.maintenance_mode_on()  # still trusting what it read
    later = time.monotonic() + 6
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert services.maintenance_mode_on() and services.maintenance_message() == "Elsewhere"


def test_saving_the_switch_in_the_admin_takes_effect_at_once(client_for, admin, student) -> None:
    from waffle.models import Switch

    Switch.objects.create(name="maintenance-mode", active=True, note="Admin says so")
    assert client_for(student).get("/accounts/profile/").status_code == 503


@pytest.mark.usefixtures("maintenance_on")
def test_the_log_in_page_says_so_before_anyone_signs_in(client) -> None:
    page = client.get("/accounts/login/").content.decode()
    assert "data-maintenance-notice" in page and "Upgrading the database, back at 10:30." in page


def test_no_notice_on_the_log_in_page_otherwise(client) -> None:
    assert "data-maintenance-notice" not in client.get("/accounts/login/").content.decode()


def test_answers_given_before_the_view_are_counted_against_their_route(
    maintenance_on, api_for, student, fresh_metrics_store
) -> None:
    """Drill: the database-down 5xx (answered in a middleware) were all "<unmatched>"."""
    assert api_for(student).get("/api/v1/decks/").status_code == 503
    assert api_for(student).get("/no/such/page/").status_code == 503
    routes = {key[1:] for key in fresh_metrics_store.drain()}
    assert routes == {("GET", "/api/v1/decks/"), ("GET", "<unmatched>")}
