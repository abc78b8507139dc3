"""The analytics API: staff only (401 anonymous, 403 non-staff), validation, query counts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from analytics import services
from analytics.models import Event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

READ_ENDPOINTS = [
    "/api/v1/analytics/engagement/",
    "/api/v1/analytics/retention/",
    "/api/v1/analytics/features/",
    "/api/v1/analytics/active-users/",
    "/api/v1/analytics/user/{user_id}/",
    "/api/v1/analytics/session/abc/",
    "/api/v1/analytics/errors/",
    "/api/v1/analytics/events/",
]
FUNNEL = "/api/v1/analytics/funnel/"


def _activity(users: list, now: object = None) -> None:
    now = now or timezone.now()
    rows = []
    for i, user in enumerate(users):
        for j in range(3):
            rows.append(
                Event(
                    name="page_view",
                    user=user,
                    session_key=f"s{i}",
                    timestamp=now - timedelta(hours=j * 20),
                    properties={"route": "/decks/"},
                )
            )
        rows.append(Event(name="deck_created", user=user, session_key=f"s{i}", timestamp=now - timedelta(minutes=5)))
    rows.append(
        Event(
            name="error",
            user=users[0],
            timestamp=now - timedelta(hours=1),
            properties={"type": "ZeroDivisionError", "message": "boom", "route": "/x/", "status": 500},
        )
    )
    Event.objects.bulk_create(rows)


@pytest.mark.parametrize("url", READ_ENDPOINTS)
def test_non_staff_get_403_and_anonymous_401(url: str, api_for: object, student: object, teacher: object) -> None:
    url = url.format(user_id=student.pk)
    assert api_for(student).get(url).status_code == 403
    assert api_for(teacher).get(url).status_code == 403
    response = api_for(None).get(url)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_funnel_refuses_non_staff(api_for: object, student: object) -> None:
    response = api_for(student).post(FUNNEL, {"steps": ["a", "b"]}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert api_for(None).post(FUNNEL, {"steps": ["a", "b"]}, format="json").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"steps": ["signup"]}, "steps"),
        ({"steps": [f"s{i}" for i in range(11)]}, "steps"),
        ({"steps": ["a", "b"], "colour": "red"}, "colour"),
        ({"steps": ["a", "b"], "days": -3}, "days"),
        ({"steps": ["a", "b"], "window_hours": -1}, "window_hours"),
        ({"steps": ["a", "Not An Event"]}, "steps"),
        ({"steps": "a,b"}, "steps"),
        ({}, "steps"),
    ],
)
def test_malformed_funnel_requests_get_400(api_for: object, admin: object, body: dict, field: str) -> None:
    response = api_for(admin).post(FUNNEL, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]


def test_funnel_for_staff(api_for: object, admin: object, student: object, outsider: object) -> None:
    now = timezone.now()
    Event.objects.bulk_create(
        [
            Event(name="signup", user=student, timestamp=now - timedelta(days=2)),
            Event(name="class_joined", user=student, timestamp=now - timedelta(days=1)),
            Event(name="signup", user=outsider, timestamp=now - timedelta(days=2)),
        ]
    )
    response = api_for(admin).post(FUNNEL, {"steps": ["signup", "class_joined"], "days": 7}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert [s["users"] for s in data["steps"]] == [2, 1]
    assert data["steps"][1]["conversion_rate"] == 0.5
    assert data["overall_conversion"] == 0.5
    assert data["window_hours"] == 336
    assert data["steps"][1]["median_seconds_from_previous"] == pytest.approx(86400, abs=1)


def test_engagement_features_errors_active_users(
    api_for: object, admin: object, student: object, outsider: object
) -> None:
    _activity([student, outsider])
    client = api_for(admin)
    engagement = client.get("/api/v1/analytics/engagement/?days=7&tz=Asia/Kathmandu").json()
    assert engagement["timezone"] == "Asia/Kathmandu"
    assert engagement["dau"] == 2
    assert engagement["wau"] == 2
    assert len(engagement["series"]) == 7
    assert engagement["sessions"]["count"] >= 2
    features = client.get("/api/v1/analytics/features/?days=7&limit=1").json()
    assert features["most_used"] == [{"name": "page_view", "events": 6, "users": 2, "share": 0.6}]
    assert features["least_used"][0]["name"] == "error"
    errors = client.get("/api/v1/analytics/errors/?hours=24").json()
    assert errors["total"] == 1
    assert errors["users_affected"] == 1
    assert errors["by_type"] == [{"type": "ZeroDivisionError", "count": 1, "users": 1}]
    assert errors["recent"][0]["route"] == "/x/"
    active = client.get("/api/v1/analytics/active-users/?minutes=30").json()
    # The admin's own API calls count too (recorded by the middleware, without a browser session).
    assert (active["active_users"], active["sessions"]) == (3, 2)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/analytics/engagement/?days=0",
        "/api/v1/analytics/engagement/?days=abc",
        "/api/v1/analytics/features/?limit=9999",
        "/api/v1/analytics/active-users/?minutes=-5",
        "/api/v1/analytics/errors/?hours=x",
        "/api/v1/analytics/retention/?unknown=1",
        "/api/v1/analytics/engagement/?tz=Mars/Olympus",
    ],
)
def test_bad_query_parameters_get_400(api_for: object, admin: object, url: str) -> None:
    response = api_for(admin).get(url)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_user_and_session_detail(api_for: object, admin: object, student: object) -> None:
    _activity([student])
    client = api_for(admin)
    data = client.get(f"/api/v1/analytics/user/{student.pk}/").json()
    assert data["total_events"] == 5
    assert data["event_types"]["page_view"] == 3
    assert data["sessions"] == 4  # -40h, -20h, -1h, then -5 min and now together
    assert client.get("/api/v1/analytics/user/999999/").status_code == 404
    session = client.get("/api/v1/analytics/session/s0/").json()
    assert session["event_count"] == 4
    assert session["event_types"] == {"page_view": 3, "deck_created": 1}
    assert client.get("/api/v1/analytics/session/nope/").status_code == 404


def test_retention_endpoint(api_for: object, admin: object, student: object) -> None:
    _activity([student])
    data = api_for(admin).get("/api/v1/analytics/retention/?cohorts=4").json()
    assert len(data["cohorts"]) == 4
    # The student's first activity was 40 hours ago: on a Monday or Tuesday that
    # is last week's cohort, so find the cohort by date rather than by position.
    first_day = (timezone.now() - timedelta(hours=40)).date()
    starts = [date.fromisoformat(c["week_start"]) for c in data["cohorts"]]
    index = max(i for i, start in enumerate(starts) if start <= first_day)
    assert [c["size"] for c in data["cohorts"]] == [1 if i == index else 0 for i in range(4)]
    assert data["cohorts"][-1]["weeks"] == [None] * 8


def test_staff_event_list_is_paginated_and_filtered(
    api_for: object, admin: object, student: object, outsider: object, django_assert_max_num_queries: object
) -> None:
    _activity([student, outsider])
    client = api_for(admin)
    # count, page; then the request's one analytics INSERT (inside a savepoint under the test transaction)
    with django_assert_max_num_queries(5):
        data = client.get(f"/api/v1/analytics/events/?user={student.pk}&page_size=2").json()
    assert data["count"] == 5
    assert len(data["results"]) == 2
    assert client.get("/api/v1/analytics/events/?user=abc").status_code == 400


def test_list_query_count_does_not_grow_with_data(
    api_for: object, admin: object, django_assert_max_num_queries: object
) -> None:
    _activity([UserFactory() for _ in range(20)])
    with django_assert_max_num_queries(5):  # as above, with 20 users' events
        assert api_for(admin).get("/api/v1/analytics/events/?page_size=100").status_code == 200


# --- Browser events ---------------------------------------------------------------------

EVENTS = "/api/v1/analytics/events/"


def test_signed_in_user_posts_own_browser_events(client_for: object, student: object) -> None:
    client = client_for(student)
    response = client.post(
        EVENTS,
        {"events": [{"name": "card_flipped", "properties": {"card": 3, "password": "x"}}, {"name": "deck_shared"}]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json() == {"accepted": 2}
    flipped = Event.objects.get(name="card_flipped")
    assert flipped.user == student
    assert flipped.properties == {"card": 3}  # credential-like keys are dropped
    assert flipped.session_key and flipped.session_key != client.session.session_key


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"events": []}, 400),
        ({"events": [{"name": "card_flipped"}] * 101}, 400),
        ({"events": [{"name": "Robert'); DROP TABLE"}]}, 400),
        ({"events": [{"name": "login"}]}, 400),  # server-side names cannot be forged
        ({"events": [{"name": "card_flipped", "properties": {"x": "y" * 5000}}]}, 413),
        ({"events": [{"name": "card_flipped", "user": 1}]}, 400),
        ([{"name": "card_flipped"}], 400),
    ],
)
def test_bad_browser_batches_are_refused_and_write_nothing(
    api_for: object, student: object, body: object, status: int
) -> None:
    response = api_for(student).post(EVENTS, body, format="json")
    assert response.status_code == status, response.content
    assert "error" in response.json()
    assert not Event.objects.filter(name="card_flipped").exists()


def test_browser_events_are_rate_limited(api_for: object, student: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"events": "2/minute"})
    client = api_for(student)
    body = {"events": [{"name": "card_flipped"}]}
    responses = [client.post(EVENTS, body, format="json") for _ in range(3)]
    assert [r.status_code for r in responses] == [201, 201, 429]
    assert responses[-1].json()["error"]["code"] == "throttled"
    assert Event.objects.filter(name="card_flipped").count() == 2


def test_anonymous_cannot_post_events(api_for: object) -> None:
    assert api_for(None).post(EVENTS, {"events": [{"name": "card_flipped"}]}, format="json").status_code == 401


def test_own_events_export(api_for: object, student: object, outsider: object) -> None:
    _activity([student, outsider])
    data = api_for(student).get("/api/v1/analytics/me/events/").json()
    assert len(data["events"]) == 5  # 3 page views, a deck, the error
    assert {e["name"] for e in data["events"]} == {"page_view", "deck_created", "error"}


def test_events_go_with_the_account(student: object) -> None:
    _activity([student])
    services.rollup_pending()
    student.delete()
    assert not Event.objects.filter(user_id=student.pk).exists()


def test_openapi_documents_the_endpoints(api_for: object, admin: object) -> None:
    response = api_for(admin).get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("engagement", "retention", "features", "active-users", "errors", "funnel", "events"):
        assert f"/api/v1/analytics/{path}/" in paths
    assert "/api/v1/analytics/user/{user_id}/" in paths
    assert "/api/v1/analytics/session/{session_key}/" in paths


@pytest.mark.parametrize("people", [2, 30])
def test_read_endpoints_query_counts_do_not_grow(
    api_for: object, admin: object, people: int, django_assert_max_num_queries: object
) -> None:
    _activity([UserFactory() for _ in range(people)])
    services.rollup_pending()
    client = api_for(admin)
    # Each endpoint's own reads, plus the request's analytics INSERT (3 with its savepoint).
    budgets = {
        "/api/v1/analytics/engagement/": 4 + 3 + 3 + 2 + 3,  # engagement, sessions, study, user lookup
        "/api/v1/analytics/retention/": 4 + 3,
        "/api/v1/analytics/features/": 4 + 3,
        "/api/v1/analytics/errors/": 3 + 3,
        "/api/v1/analytics/active-users/": 1 + 3,
    }
    # The first request after a rollup fills the cache (analytics.dashboard_figures): engagement's
    # closed days (4) and their users' first and last days (1), the retention grid (1) and those
    # users (1), the rolled-up feature counts and who used which name (3, one more than the live read).
    first_time = {
        "/api/v1/analytics/engagement/": 5,
        "/api/v1/analytics/retention/": 2,
        "/api/v1/analytics/features/": 2,
    }
    for url, budget in budgets.items():
        with django_assert_max_num_queries(budget + first_time.get(url, 0)):
            assert client.get(url).status_code == 200, url
    for url, budget in budgets.items():
        with django_assert_max_num_queries(budget):
            assert client.get(url).status_code == 200, url


def test_ten_step_funnel(api_for: object, admin: object, student: object) -> None:
    now = timezone.now()
    steps = [f"step_{i}" for i in range(10)]
    Event.objects.bulk_create(
        [Event(name=name, user=student, timestamp=now - timedelta(minutes=30 - i)) for i, name in enumerate(steps)]
    )
    data = api_for(admin).post(FUNNEL, {"steps": steps, "days": 1, "window_hours": 1}, format="json").json()
    assert [s["users"] for s in data["steps"]] == [1] * 10
    assert data["overall_conversion"] == 1.0


def test_reports_with_only_future_dated_events_answer_empty_not_500(api_for: object, admin: object, student) -> None:
    """Events can be back-filled or imported with any timestamp: with every
    one dated next week, the retention's activity read had no day to read and
    its SQL was "a AS ()" (a 500 on SQLite and PostgreSQL)."""
    Event.objects.create(name="page_view", user=student, timestamp=timezone.now() + timedelta(days=7))
    response = api_for(admin).get("/api/v1/analytics/retention/?cohorts=4")
    assert response.status_code == 200
    assert [c["size"] for c in response.json()["cohorts"]] == [0, 0, 0, 0]
