"""The names other tools rely on (../shared/DESIGN.md, "Contract"), checked in one place."""

from __future__ import annotations

import pytest
from django.core.management import get_commands

from learning.srs import Schedule, sm2
from lms.demo import seed_demo
from lms.models import User


def test_management_commands_exist():
    commands = get_commands()
    for name in ("seed_demo", "run_maintenance", "detect_incidents", "backup", "verify_backup"):
        assert name in commands, name


@pytest.mark.parametrize(
    "url", ["/health/", "/health/live/", "/health/ready/", "/health/detailed/", "/metrics", "/status/", "/api/schema/"]
)
def test_public_urls_answer(client, url):
    assert client.get(url).status_code == 200


def test_admin_and_api_docs_exist(client):
    assert client.get("/admin/").status_code == 302  # to the admin log-in
    assert client.get("/api/docs/").status_code == 200


def test_user_model_and_roles():
    user = User.objects.create_user("contract", password="demo-pass-123", role="teacher")
    assert user.role == "teacher"
    assert {choice for choice, _ in User.Role.choices} == {"student", "teacher", "admin"}


def test_srs_contract():
    assert Schedule(0, 0, 2.5) == Schedule(repetitions=0, interval=0, ease=2.5)
    assert sm2(Schedule(0, 0, 2.5), 4) == Schedule(1, 1, 2.5)


def test_demo_users_token_me_and_lists(api_for):
    seed_demo()
    client = api_for(None)
    token = client.post("/api/v1/auth/token/", {"username": "teacher", "password": "demo-pass-123"}, format="json")
    assert token.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert client.get("/api/v1/auth/me/").json()["role"] == "teacher"

    classrooms = client.get("/api/v1/classrooms/").json()
    assert set(classrooms) == {"count", "next", "previous", "results"}
    classroom = classrooms["results"][0]["id"]
    course = client.get(f"/api/v1/courses/?classroom={classroom}").json()["results"][0]["id"]
    lesson = client.get(f"/api/v1/lessons/?course={course}").json()["results"][0]["id"]
    deck = client.get(f"/api/v1/decks/?lesson={lesson}").json()["results"][0]["id"]
    cards = client.get(f"/api/v1/cards/?deck={deck}").json()
    assert cards["count"] > 0 and all("id" in row for row in cards["results"])
    for url in ("/api/v1/study-sessions/", "/api/v1/reviews/", "/api/v1/progress/"):
        assert client.get(url).status_code == 200, url


def test_creating_through_the_contract_fields(api_for, teacher):
    client = api_for(teacher)
    classroom = client.post("/api/v1/classrooms/", {"name": "Contract class"}, format="json").json()["id"]
    course = client.post("/api/v1/courses/", {"classroom": classroom, "title": "C"}, format="json").json()["id"]
    lesson = client.post("/api/v1/lessons/", {"course": course, "title": "L"}, format="json").json()["id"]
    deck = client.post("/api/v1/decks/", {"title": "D", "lesson": lesson}, format="json").json()["id"]
    card = client.post("/api/v1/cards/", {"deck": deck, "front": "f", "back": "b"}, format="json")
    assert card.status_code == 201
    personal = client.post("/api/v1/decks/", {"title": "Mine"}, format="json")
    assert personal.status_code == 201


def test_join_by_code_and_error_shape(api_for, teacher, student):
    code = api_for(teacher).post("/api/v1/classrooms/", {"name": "Join me"}, format="json").json()["join_code"]
    joined = api_for(student).post("/api/v1/classrooms/join/", {"join_code": code}, format="json")
    assert joined.status_code in (200, 201)
    unknown = api_for(student).post("/api/v1/classrooms/join/", {"join_code": "ZZZZZZZZ"}, format="json")
    assert unknown.status_code in (400, 404)
    assert set(unknown.json()["error"]) == {"code", "message", "details"}


def test_funnel_endpoint_takes_the_contract_body(api_for, admin):
    response = api_for(admin).post(
        "/api/v1/analytics/funnel/",
        {"steps": ["signup", "class_joined"], "days": 30, "window_hours": 336},
        format="json",
    )
    assert response.status_code == 200


def test_event_model_fields():
    from analytics.models import Event

    names = {f.name for f in Event._meta.get_fields()}
    assert {"name", "user", "session_key", "properties", "timestamp"} <= names
