"""Automatic events: page views by route, API requests, auth events, errors, domain events; one INSERT per request."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError
from django.urls import path

from analytics import services
from analytics.models import Event
from lms.tracking import track
from tests.factories import UserFactory
from tests.lms.signup_helpers import confirm_path

pytestmark = pytest.mark.django_db


def boom(request: Any, pk: int) -> Any:
    raise ZeroDivisionError("secret-ish detail")


urlpatterns = [path("boom/<int:pk>/", boom)]


def test_page_view_records_the_route_pattern_not_the_path(client_for: object, admin: object) -> None:
    client = client_for(admin)
    client.get(f"/analytics/users/{admin.pk}/")
    event = Event.objects.get(name="page_view")
    assert event.properties["route"] == "/analytics/users/<int:user_id>/"
    assert event.properties["status"] == 200
    assert event.user == admin
    assert event.session_key and event.session_key != client.session.session_key  # hashed, never the credential


def test_api_request_with_method_status_and_duration(api_for: object, admin: object) -> None:
    api_for(admin).get("/api/v1/analytics/errors/")
    event = Event.objects.get(name="api_request")
    assert event.properties["route"] == "/api/v1/analytics/errors/"
    assert event.properties["method"] == "GET"
    assert event.properties["status"] == 200
    assert event.properties["duration_ms"] >= 0


def test_redirects_and_refusals_are_not_page_views(client_for: object, student: object) -> None:
    client_for(None).get("/analytics/")  # redirect to the login page
    client_for(student).get("/analytics/")  # 403
    assert not Event.objects.filter(name="page_view").exists()


def test_static_and_health_are_not_tracked(client: Any) -> None:
    client.get("/health/live/")
    client.get("/metrics")
    assert not Event.objects.exists()


def test_login_logout_and_failed_login(client: Any) -> None:
    user = UserFactory(username="lena")
    client.post("/accounts/login/", {"username": "lena", "password": "wrong-password"})
    failed = Event.objects.get(name="login_failed")
    assert failed.properties == {"username": "lena"}
    assert "wrong-password" not in str(Event.objects.values_list("properties", flat=True))
    client.post("/accounts/login/", {"username": "lena", "password": "demo-pass-123"})
    assert Event.objects.get(name="login").user == user
    client.post("/accounts/logout/")
    assert Event.objects.get(name="logout").user == user


def test_signup_is_tracked_when_the_emailed_link_is_followed(
    client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/accounts/signup/",
            {
                "username": "newbie",
                "email": "n@example.com",
                "password1": "a-Long-pass-123",
                "password2": "a-Long-pass-123",
                "role": "student",
                "timezone": "UTC",
            },
        )
    # Not before: until then nobody has an account.
    assert not Event.objects.filter(name="signup").exists()
    client.post(confirm_path())
    signup = Event.objects.filter(name="signup").first()
    assert signup is not None, list(Event.objects.values_list("name", flat=True))
    assert signup.user.username == "newbie"


def test_unhandled_exception_becomes_an_error_event(client_for: object, admin: object, settings: Any) -> None:
    settings.ROOT_URLCONF = __name__
    client = client_for(admin)
    client.raise_request_exception = False
    response = client.get("/boom/7/")
    assert response.status_code == 500
    error = Event.objects.get(name="error")
    assert error.properties["type"] == "ZeroDivisionError"
    assert error.properties["route"] == "/boom/<int:pk>/"
    assert error.properties["status"] == 500


def test_404_and_403_raised_by_views_are_not_errors(client_for: object, student: object) -> None:
    # They are correct answers; counting them would bury the real 5xx on the
    # errors dashboard under every stale link and permission check.
    client = client_for(student)
    assert client.get("/classes/999999/").status_code == 404  # the view raises Http404
    assert client.get("/analytics/").status_code == 403  # the view raises PermissionDenied
    assert not Event.objects.filter(name="error").exists()


def test_domain_events_from_track_join_the_request_buffer(admin: Any) -> None:
    track("deck_created", user=admin, deck_id=5, token="leak")
    event = Event.objects.get(name="deck_created")
    assert event.properties == {"deck_id": 5}
    assert event.user == admin


def test_one_insert_per_request(client_for: object, admin: object, django_assert_num_queries: Any) -> None:
    """A request that also tracks domain events still writes analytics once."""
    from django.test import RequestFactory

    from analytics.middleware import AnalyticsMiddleware

    def view(request: Any) -> Any:
        from django.http import HttpResponse

        track("card_created", user=admin)
        track("card_created", user=admin)
        return HttpResponse("<p>ok</p>", content_type="text/html")

    request = RequestFactory().get("/analytics/")
    request.user = admin
    from django.urls import resolve

    request.resolver_match = resolve("/analytics/")
    with django_assert_num_queries(3):  # SAVEPOINT, one INSERT of all three events, RELEASE
        AnalyticsMiddleware(view)(request)
    assert sorted(Event.objects.values_list("name", flat=True)) == ["card_created", "card_created", "page_view"]


def test_a_failing_store_never_breaks_the_request(client_for: object, admin: object, monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(services, "insert_events", broken)
    response = client_for(admin).get("/analytics/retention/")
    assert response.status_code == 200
    services.record("deck_created", user=admin)  # outside a request: logged, not raised
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_events_are_one_plain_insert(admin: Any) -> None:
    """In autocommit (a request's flush) the write is the INSERT alone, no
    BEGIN/COMMIT around it, and the rows are there when it returns."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    events = [services.Event(name="card_created", user=admin, properties={"n": n}) for n in range(3)]
    with CaptureQueriesContext(connection) as queries:
        services.flush(events)
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    assert sorted(Event.objects.values_list("properties__n", flat=True)) == [0, 1, 2]
    assert set(Event.objects.values_list("user", flat=True)) == {admin.pk}


def test_disabled_tracking_records_nothing(client_for: object, admin: object, settings: Any) -> None:
    settings.ANALYTICS_ENABLED = False
    client_for(admin).get("/analytics/retention/")
    track("deck_created", user=admin)
    assert not Event.objects.exists()


def test_purge_keeps_rollups(admin: Any, settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from analytics import queries
    from analytics import timeutil as tu

    settings.ANALYTICS_RETENTION_DAYS = 10
    old = timezone.now() - timedelta(days=20)
    Event.objects.create(name="page_view", user=admin, timestamp=old)
    Event.objects.create(name="page_view", user=admin)
    assert services.purge_old_events() == 1
    assert Event.objects.count() == 1
    day = tu.utc_day_of(old)
    assert queries.sessions_summary(day, day).sessions == 1  # from the rollup


def test_beat_schedules_are_seeded() -> None:
    from django_celery_beat.models import PeriodicTask

    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"analytics.rollup_hourly", "analytics.nightly"} <= tasks


def test_rollup_tasks_run(admin: Any) -> None:
    from analytics import tasks

    Event.objects.create(name="page_view", user=admin)
    assert tasks.rollup_hourly.delay().get()
    assert tasks.nightly.delay().get()["purged"] == 0
