"""Nonsense ids and parameters get a 4xx, never a 500 (SQLite overflows on
integers past 64 bits)."""

from __future__ import annotations

BIG = "9" * 30


def test_huge_ids_in_urls_and_filters(teacher, client_for, api_for):
    api = api_for(teacher)
    assert client_for(teacher).get(f"/classes/{BIG}/").status_code == 404
    assert client_for(teacher).post(f"/classes/{BIG}/students/1/remove/").status_code == 404
    assert api.get(f"/api/v1/cards/{BIG}/").status_code == 404
    for resource, param in [("cards", "deck"), ("decks", "lesson"), ("lessons", "course"), ("courses", "classroom")]:
        response = api.get(f"/api/v1/{resource}/?{param}={BIG}")
        assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"
    assert api.post("/api/v1/cards/", {"deck": int(BIG), "front": "a", "back": "b"}, format="json").status_code == 400
    assert api.post("/api/v1/cards/reorder/", {"deck": 1, "ids": [int(BIG)]}, format="json").status_code == 400
    assert api.post("/api/v1/cards/bulk/", {"deck": int(BIG), "text": "a;b"}, format="json").status_code == 400


def test_huge_student_id_on_roster_removal(teacher, client_for, api_for):
    from learning.models import Classroom

    classroom = Classroom.objects.create(name="C", teacher=teacher)
    assert client_for(teacher).post(f"/classes/{classroom.pk}/students/{BIG}/remove/").status_code == 404
    response = api_for(teacher).delete(f"/api/v1/classrooms/{classroom.pk}/students/{BIG}/")
    assert response.status_code == 400 and response.json()["error"]["code"] == "not_enrolled"


def test_non_numeric_and_malformed_input(teacher, api_for):
    api = api_for(teacher)
    assert api.get("/api/v1/cards/?deck=abc").status_code == 400
    assert api.post("/api/v1/cards/reorder/", {"deck": 1, "ids": "nope"}, format="json").status_code == 400
    assert api.post("/api/v1/classrooms/join/", {"join_code": ["x"]}, format="json").status_code == 400
    response = api.post("/api/v1/cards/", "{not json", content_type="application/json")
    assert response.status_code == 400
