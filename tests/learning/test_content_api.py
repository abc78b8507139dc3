# ruff: noqa: F811 - the `world` fixture is imported, then requested by name
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson
from tests.factories import UserFactory
from tests.learning.content_world import World, png_bytes, wav_bytes, world  # noqa: F401


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert set(body) == {"code", "message", "details"} and body["message"]
    if code:
        assert body["code"] == code
    return body


# --- contract shapes ------------------------------------------------------------------------


def test_lists_are_paginated_and_every_row_has_an_id(world, teacher, api_for):
    client = api_for(teacher)
    for resource in ("classrooms", "courses", "lessons", "decks", "cards"):
        body = client.get(f"/api/v1/{resource}/").json()
        assert set(body) == {"count", "next", "previous", "results"}, resource
        assert body["count"] >= 1 and all("id" in row for row in body["results"]), resource


def test_create_the_whole_hierarchy_with_the_contract_fields(teacher, api_for):
    client = api_for(teacher)
    classroom = client.post("/api/v1/classrooms/", {"name": "Bio"}, format="json")
    assert classroom.status_code == 201 and len(classroom.json()["join_code"]) == 8
    course = client.post("/api/v1/courses/", {"classroom": classroom.json()["id"], "title": "Cells"}, format="json")
    assert course.status_code == 201
    lesson = client.post("/api/v1/lessons/", {"course": course.json()["id"], "title": "Organelles"}, format="json")
    assert lesson.status_code == 201 and lesson.json()["published"] is False
    deck = client.post("/api/v1/decks/", {"title": "Terms", "lesson": lesson.json()["id"]}, format="json")
    assert deck.status_code == 201 and deck.json()["is_personal"] is False
    card = client.post(
        "/api/v1/cards/",
        {"deck": deck.json()["id"], "front": "<b>Nucleus</b><script>x</script>", "back": "DNA"},
        format="json",
    )
    assert card.status_code == 201
    assert card.json()["front"] == "<b>Nucleus</b>"
    assert card.json()["deck"] == deck.json()["id"]
    personal = client.post("/api/v1/decks/", {"title": "Mine"}, format="json")
    assert personal.json()["is_personal"] is True and personal.json()["lesson"] is None


def test_required_fields_give_the_error_shape_and_write_nothing(world, teacher, api_for):
    client = api_for(teacher)
    body = assert_error(client.post("/api/v1/classrooms/", {}, format="json"), 400, "validation_error")
    assert "name" in body["details"]
    assert_error(client.post("/api/v1/courses/", {"title": "x"}, format="json"), 400)
    assert_error(client.post("/api/v1/cards/", {"deck": world.deck.pk, "front": "x"}, format="json"), 400)
    assert_error(
        client.post("/api/v1/cards/", {"deck": world.deck.pk, "front": "<i></i>", "back": "b"}, format="json"), 400
    )
    assert_error(client.post("/api/v1/decks/", {"title": "D", "new_cards_per_day": -1}, format="json"), 400)
    assert_error(client.get("/api/v1/cards/?deck=abc"), 400)
    assert Card.objects.count() == 4 and Course.objects.count() == 1 and Deck.objects.count() == 3


def test_filters_by_parent(world, teacher, api_for):
    client = api_for(teacher)
    other_course = Course.objects.create(classroom=world.classroom, title="Other")
    assert [r["id"] for r in client.get(f"/api/v1/courses/?classroom={world.classroom.pk}").json()["results"]] == [
        world.course.pk,
        other_course.pk,
    ]
    assert client.get(f"/api/v1/courses/?classroom={world.rival_class.pk}").json()["count"] == 0
    lessons = client.get(f"/api/v1/lessons/?course={world.course.pk}").json()["results"]
    assert [r["id"] for r in lessons] == [world.lesson.pk, world.draft.pk]
    decks = client.get(f"/api/v1/decks/?lesson={world.lesson.pk}").json()["results"]
    assert [r["id"] for r in decks] == [world.deck.pk] and decks[0]["card_count"] == 2
    cards = client.get(f"/api/v1/cards/?deck={world.deck.pk}").json()
    assert cards["count"] == 2


def test_card_search_by_text_and_tag(world, student, api_for):
    client = api_for(student)
    assert [r["front"] for r in client.get(f"/api/v1/cards/?deck={world.deck.pk}&q=DNA").json()["results"]] == [
        "Nucleus"
    ]
    assert [r["front"] for r in client.get("/api/v1/cards/?tag=protein").json()["results"]] == ["Ribosome"]
    assert client.get("/api/v1/cards/?tag=prot").json()["count"] == 0  # whole tags only


def test_students_see_published_lessons_only(world, student, api_for):
    ids = [r["id"] for r in api_for(student).get(f"/api/v1/lessons/?course={world.course.pk}").json()["results"]]
    assert ids == [world.lesson.pk]


def test_lesson_body_html_is_sanitized(world, teacher, api_for):
    response = api_for(teacher).patch(
        f"/api/v1/lessons/{world.lesson.pk}/", {"body": "**hi** <script>alert(1)</script>"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["body_html"] == "<p><strong>hi</strong> </p>"


def test_patch_updates_and_cannot_move_between_parents(world, teacher, api_for):
    client = api_for(teacher)
    assert client.patch(f"/api/v1/classrooms/{world.classroom.pk}/", {"archived": True}, format="json").json()[
        "archived"
    ]
    assert_error(
        client.patch(f"/api/v1/courses/{world.course.pk}/", {"classroom": world.rival_class.pk}, format="json"), 400
    )
    assert_error(client.patch(f"/api/v1/cards/{world.card.pk}/", {"deck": world.draft_deck.pk}, format="json"), 400)
    assert Card.objects.get(pk=world.card.pk).deck_id == world.deck.pk
    assert client.put(f"/api/v1/courses/{world.course.pk}/", {"title": "x"}, format="json").status_code == 405


# --- joining ---------------------------------------------------------------------------------


def test_join_api_is_idempotent(world, outsider, api_for):
    client = api_for(outsider)
    first = client.post("/api/v1/classrooms/join/", {"join_code": world.classroom.join_code}, format="json")
    assert first.status_code == 201 and first.json()["id"] == world.classroom.pk
    assert first.json()["join_code"] is None  # a student never sees the code back
    again = client.post("/api/v1/classrooms/join/", {"join_code": world.classroom.join_code.lower()}, format="json")
    assert again.status_code == 200
    assert Enrollment.objects.filter(student=outsider).count() == 1


def test_join_api_errors(world, outsider, api_for):
    client = api_for(outsider)
    assert_error(
        client.post("/api/v1/classrooms/join/", {"join_code": "ZZZZZZZZ"}, format="json"), 404, "unknown_join_code"
    )
    assert_error(client.post("/api/v1/classrooms/join/", {}, format="json"), 400, "validation_error")
    Classroom.objects.filter(pk=world.classroom.pk).update(archived=True)
    body = assert_error(
        client.post("/api/v1/classrooms/join/", {"join_code": world.classroom.join_code}, format="json"),
        409,
        "class_archived",
    )
    assert "archived" in body["message"]
    assert not Enrollment.objects.filter(student=outsider).exists()
    assert api_for(None).post("/api/v1/classrooms/join/", {"join_code": "X"}, format="json").status_code == 401


def test_roster_and_remove_student(world, teacher, student, api_for):
    client = api_for(teacher)
    roster = client.get(f"/api/v1/classrooms/{world.classroom.pk}/students/").json()
    assert [r["username"] for r in roster["results"]] == [student.username]
    assert client.delete(f"/api/v1/classrooms/{world.classroom.pk}/students/{student.pk}/").status_code == 204
    assert_error(client.delete(f"/api/v1/classrooms/{world.classroom.pk}/students/{student.pk}/"), 400, "not_enrolled")


def test_regenerate_code(world, teacher, api_for):
    new = api_for(teacher).post(f"/api/v1/classrooms/{world.classroom.pk}/regenerate-code/").json()["join_code"]
    assert new != world.classroom.join_code and Classroom.objects.get(pk=world.classroom.pk).join_code == new


# --- media ------------------------------------------------------------------------------------


def test_multipart_upload_of_image_and_audio(world, teacher, api_for):
    response = api_for(teacher).post(
        "/api/v1/cards/",
        {
            "deck": world.deck.pk,
            "front": "Heart",
            "back": "Pumps blood",
            "tags": "organs",
            "image": SimpleUploadedFile("heart.gif", png_bytes(fmt="GIF"), content_type="image/gif"),
            "audio": SimpleUploadedFile("beat.wav", wav_bytes(), content_type="audio/wav"),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["image_url"].endswith(f"/cards/{body['id']}/image/")
    assert body["audio_url"].endswith(f"/cards/{body['id']}/audio/")
    card = Card.objects.get(pk=body["id"])
    assert card.image.name.endswith(".gif") and card.audio.name.endswith(".wav")


def test_wrong_media_type_is_400_and_writes_nothing(world, teacher, api_for):
    before = Card.objects.count()
    response = api_for(teacher).post(
        "/api/v1/cards/",
        {
            "deck": world.deck.pk,
            "front": "F",
            "back": "B",
            "image": SimpleUploadedFile("evil.png", b"#!/bin/sh\nrm -rf /", content_type="image/png"),
        },
        format="multipart",
    )
    body = assert_error(response, 400, "invalid_media")
    assert "image" in body["details"]
    assert Card.objects.count() == before


def test_media_over_the_limit_is_413_and_writes_nothing(world, teacher, api_for, settings):
    settings.MAX_MEDIA_BYTES = 10 * 1024 * 1024
    big = png_bytes() + b"\x00" * (10 * 1024 * 1024 + 1)
    before = Card.objects.count()
    response = api_for(teacher).post(
        "/api/v1/cards/",
        {"deck": world.deck.pk, "front": "F", "back": "B", "image": SimpleUploadedFile("big.png", big, "image/png")},
        format="multipart",
    )
    assert_error(response, 413, "too_large")
    assert Card.objects.count() == before
    patched = api_for(teacher).patch(
        f"/api/v1/cards/{world.card.pk}/",
        {"audio": SimpleUploadedFile("big.wav", b"RIFF" + b"\x00" * (10 * 1024 * 1024 + 10), "audio/wav")},
        format="multipart",
    )
    assert_error(patched, 413)
    assert not Card.objects.get(pk=world.card.pk).audio


def test_clear_image_through_patch(world, teacher, api_for):
    response = api_for(teacher).patch(f"/api/v1/cards/{world.card.pk}/", {"clear_image": True}, format="json")
    assert response.status_code == 200 and response.json()["image_url"] is None


# --- reorder and bulk ---------------------------------------------------------------------------


def test_reorder_endpoints(world, teacher, api_for):
    client = api_for(teacher)
    ids = list(world.deck.cards.values_list("id", flat=True))
    response = client.post("/api/v1/cards/reorder/", {"deck": world.deck.pk, "ids": ids[::-1]}, format="json")
    assert response.status_code == 200 and response.json() == {"ids": ids[::-1]}
    listed = [r["id"] for r in client.get(f"/api/v1/cards/?deck={world.deck.pk}").json()["results"]]
    assert listed == ids[::-1]
    assert_error(client.post("/api/v1/cards/reorder/", {"deck": world.deck.pk, "ids": ids[:1]}, format="json"), 400)
    second = Lesson.objects.create(course=world.course, title="Third")
    order = [second.pk, world.draft.pk, world.lesson.pk]
    assert (
        client.post("/api/v1/lessons/reorder/", {"course": world.course.pk, "ids": order}, format="json").status_code
        == 200
    )
    assert list(world.course.lessons.values_list("id", flat=True)) == order


def test_personal_decks_reorder(world, student, api_for):
    other = Deck.objects.create(title="Second", owner=student)
    response = api_for(student).post(
        "/api/v1/decks/reorder/", {"lesson": None, "ids": [other.pk, world.personal.pk]}, format="json"
    )
    assert response.status_code == 200
    assert list(Deck.objects.personal_for(student).values_list("id", flat=True)) == [other.pk, world.personal.pk]


def test_bulk_add_dry_run_then_create(world, teacher, api_for):
    client = api_for(teacher)
    text = "Lysosome\tDigests\nbad line\nVacuole;Water;plants"
    dry = client.post("/api/v1/cards/bulk/", {"deck": world.deck.pk, "text": text, "dry_run": True}, format="json")
    assert dry.status_code == 200
    assert [c["front"] for c in dry.json()["cards"]] == ["Lysosome", "Vacuole"]
    assert dry.json()["errors"][0]["line"] == 2
    assert world.deck.cards.count() == 2
    created = client.post("/api/v1/cards/bulk/", {"deck": world.deck.pk, "text": text}, format="json")
    assert created.status_code == 201 and created.json()["created"] == 2 and len(created.json()["ids"]) == 2
    assert world.deck.cards.count() == 4
    body = assert_error(client.post("/api/v1/cards/bulk/", {"deck": world.deck.pk, "text": "x\ny"}, format="json"), 422)
    assert len(body["details"]["errors"]) == 2
    assert world.deck.cards.count() == 4


# --- schema --------------------------------------------------------------------------------------


def test_endpoints_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/classrooms/",
        "/api/v1/classrooms/join/",
        "/api/v1/classrooms/{id}/students/",
        "/api/v1/courses/",
        "/api/v1/lessons/",
        "/api/v1/decks/",
        "/api/v1/cards/",
        "/api/v1/cards/bulk/",
        "/api/v1/cards/reorder/",
    ):
        assert path in paths, path
    params = {p["name"] for p in paths["/api/v1/cards/"]["get"]["parameters"]}
    assert {"deck", "q", "tag", "page"} <= params
    assert "multipart/form-data" in paths["/api/v1/cards/"]["post"]["requestBody"]["content"]


# --- query counts --------------------------------------------------------------------------------


def _grow(world: World, teacher, n: int) -> None:
    for i in range(n):
        classroom = Classroom.objects.create(name=f"Extra {i}", teacher=teacher)
        Enrollment.objects.create(classroom=classroom, student=UserFactory())
        course = Course.objects.create(classroom=world.classroom, title=f"C{i}", position=5 + i)
        lesson = Lesson.objects.create(course=course, title=f"L{i}", published=True)
        deck = Deck.objects.create(title=f"D{i}", owner=teacher, lesson=lesson)
        Deck.objects.create(title=f"P{i}", owner=teacher)
        Card.objects.bulk_create(
            [Card(deck=deck, front=f"F{j}", back="B", tags="t", image=world.card.image.name) for j in range(3)]
        )


@pytest.mark.parametrize("persona", ["teacher", "student", "admin"])
def test_api_list_queries_do_not_grow_with_rows(world, request, api_for, persona):
    client = api_for(request.getfixturevalue(persona))
    teacher = request.getfixturevalue("teacher")
    urls = [
        "/api/v1/classrooms/",
        "/api/v1/courses/",
        "/api/v1/lessons/",
        "/api/v1/decks/",
        "/api/v1/cards/",
        "/api/v1/cards/?tag=cells&q=nuc",
        f"/api/v1/classrooms/{world.classroom.pk}/students/",
    ]
    if persona == "student":
        urls.pop()  # the roster is the teacher's

    def measure() -> list[int]:
        counts = []
        for url in urls:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200
            counts.append(len(ctx))
        return counts

    small = measure()
    _grow(world, teacher, 15)
    assert client.get("/api/v1/cards/").json()["count"] > 40 or persona == "student"
    assert measure() == small
    assert max(small) <= 4  # COUNT, the page (annotated), and auth/session lookups at most
