"""Staff pages: 403 for everyone else, CSV downloads, query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics import services
from analytics.models import Event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _activity(count: int) -> list:
    now = timezone.now()
    people = [UserFactory() for _ in range(count)]
    rows = []
    for i, person in enumerate(people):
        for h in range(4):
            rows.append(
                Event(
                    name="page_view",
                    user=person,
                    session_key=f"k{i}",
                    timestamp=now - timedelta(hours=h * 13),
                    properties={"route": "/decks/"},
                )
            )
        rows.append(
            Event(
                name="study_session_started",
                user=person,
                session_key=f"k{i}",
                timestamp=now - timedelta(minutes=3),
                properties={"mode": "learn"},
            )
        )
    rows.append(
        Event(
            name="error",
            user=people[0],
            timestamp=now - timedelta(hours=2),
            properties={"type": "KeyError", "message": "'x'", "route": "/decks/<int:pk>/", "status": 500},
        )
    )
    Event.objects.bulk_create(rows)
    return people


def pages(user_id: int) -> list[str]:
    return [
        reverse("analytics:dashboard"),
        reverse("analytics:funnel") + "?steps=page_view,study_session_started",
        reverse("analytics:retention"),
        reverse("analytics:user", args=[user_id]),
        reverse("analytics:session", args=["k0"]),
    ]


def test_every_page_refuses_non_staff(client_for: object, student: object, teacher: object) -> None:
    people = _activity(2)
    for url in pages(people[0].pk):
        assert client_for(student).get(url).status_code == 403, url
        assert client_for(teacher).get(url).status_code == 403, url
        anonymous = client_for(None).get(url)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"], url


def test_pages_render_for_staff(client_for: object, admin: object) -> None:
    people = _activity(3)
    client = client_for(admin)
    for url in pages(people[0].pk):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"<svg" in response.content or b"<table" in response.content, url
    dashboard = client.get(reverse("analytics:dashboard")).content.decode()
    assert "KeyError" in dashboard
    assert "study_session_started" in dashboard
    funnel = client.get(reverse("analytics:funnel") + "?steps=page_view,study_session_started").content.decode()
    assert "Link to this funnel" in funnel and "100%" in funnel


def test_funnel_form_fields_and_bad_definitions(client_for: object, admin: object) -> None:
    _activity(1)
    client = client_for(admin)
    response = client.get(reverse("analytics:funnel") + "?step1=page_view&step2=study_session_started&days=7")
    assert response.status_code == 200
    assert response.context["result"].steps[1].users == 1
    bad = client.get(reverse("analytics:funnel") + "?steps=page_view")
    assert bad.status_code == 200
    assert "2 to 10 steps" in bad.content.decode()


@pytest.mark.parametrize(
    ("url", "header"),
    [
        ("analytics:dashboard", "date,dau,wau,mau,stickiness,new,returning"),
        ("analytics:retention", "week_start,size,week_1"),
    ],
)
def test_csv_downloads(client_for: object, admin: object, url: str, header: str) -> None:
    _activity(2)
    query = "?csv=engagement" if url == "analytics:dashboard" else "?csv=1"
    response = client_for(admin).get(reverse(url) + query)
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode().startswith(header)


def test_more_csv_downloads(client_for: object, admin: object) -> None:
    people = _activity(2)
    client = client_for(admin)
    features = client.get(reverse("analytics:dashboard") + "?csv=features").content.decode().splitlines()
    assert features[0] == "event,events,users,share"
    assert features[1].startswith("page_view,8,2,")
    errors = client.get(reverse("analytics:dashboard") + "?csv=errors").content.decode()
    assert "KeyError" in errors
    funnel = client.get(reverse("analytics:funnel") + "?steps=page_view,study_session_started&csv=1").content.decode()
    assert funnel.splitlines()[2].startswith("2,study_session_started,2,1.0")
    user_csv = client.get(reverse("analytics:user", args=[people[0].pk]) + "?csv=1").content.decode()
    assert len(user_csv.strip().splitlines()) == 1 + 6
    session_csv = client.get(reverse("analytics:session", args=["k1"]) + "?csv=1").content.decode()
    assert len(session_csv.strip().splitlines()) == 1 + 5


@pytest.mark.parametrize("people", [2, 20])
def test_dashboard_query_count_does_not_grow(
    client_for: object, admin: object, people: int, django_assert_max_num_queries: object
) -> None:
    _activity(people)
    services.rollup_pending()
    client = client_for(admin)
    # The first view after a rollup fills the cache (analytics.dashboard_figures): engagement 4 + 5
    # (the closed days' figures, their users' first and last days), features 2 + 3 (the rolled-up counts
    # and who used which name)
    with django_assert_max_num_queries(35):
        assert client.get(reverse("analytics:dashboard")).status_code == 200
    # the user (the session is cached), engagement (4: rolled-up days, history start (2), the open days),
    # features (2: rolled-up days, today's events by name and user),
    # study (3 + savepoints), errors (3), sessions (2), active users, the analytics INSERT
    # (+ savepoints), incidents and maintenance windows shaded on the chart (lms.chart_annotations: 2)
    with django_assert_max_num_queries(25):
        assert client.get(reverse("analytics:dashboard")).status_code == 200


@pytest.mark.parametrize("people", [2, 20])
def test_user_page_query_count(
    client_for: object, admin: object, people: int, django_assert_max_num_queries: object
) -> None:
    users = _activity(people)
    client = client_for(admin)
    # user (the session is cached), 4 for the figures, count + page, the analytics INSERT (+ savepoints)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("analytics:user", args=[users[0].pk])).status_code == 200


def test_unknown_user_and_session_are_404(client_for: object, admin: object) -> None:
    client = client_for(admin)
    assert client.get(reverse("analytics:user", args=[99999])).status_code == 404
    assert client.get(reverse("analytics:session", args=["missing"])).status_code == 404


def test_nav_links_to_the_dashboard_for_admins(client_for: object, admin: object) -> None:
    assert reverse("analytics:dashboard").encode() in client_for(admin).get(reverse("profile")).content
