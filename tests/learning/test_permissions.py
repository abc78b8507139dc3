# ruff: noqa: F811 - the `world` fixture is imported, then requested by name
"""Who may do what, over every content page and endpoint.

Rows are (page or endpoint, method); columns are the personas: anonymous, an
outsider student, the enrolled student, a rival teacher, the owning teacher and
an admin. Hidden objects answer 404, visible but not editable ones 403,
anonymous visitors are sent to log in (pages) or get 401 (API).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from learning.models import Card, Classroom, Enrollment
from tests.learning.content_world import World, world  # noqa: F401

PERSONAS = ["anonymous", "outsider", "student", "rival_teacher", "teacher", "admin"]


def expect(ok: int, *, student: int = 403, outsider: int = 404, rival: int = 404, anon: int = 302) -> dict[str, int]:
    return {
        "anonymous": anon,
        "outsider": outsider,
        "student": student,
        "rival_teacher": rival,
        "teacher": ok,
        "admin": ok,
    }


# Shorthands for the usual shapes.
READ = expect(200, student=200)  # class members read
EDIT = expect(200)  # only the teacher (and admins) change
DRAFT = expect(200, student=404)  # unpublished: hidden from students
PERSONAL = {"anonymous": 302, "outsider": 404, "student": 200, "rival_teacher": 404, "teacher": 404, "admin": 200}
ANY_USER = expect(200, student=200, outsider=200, rival=200)
TEACHERS = expect(200, student=403, outsider=403, rival=200)


def page(name: str, attr: str | None = None, **kwargs) -> callable:
    def url(w: World) -> str:
        args = [getattr(w, attr).pk] if attr else []
        return reverse(name, args=args, kwargs=kwargs or None)

    return url


PAGE_CASES = [
    ("classroom_list", "get", page("learning:classroom_list"), ANY_USER),
    ("classroom_create", "get", page("learning:classroom_create"), TEACHERS),
    ("classroom_detail", "get", page("learning:classroom_detail", "classroom"), READ),
    ("classroom_edit", "get", page("learning:classroom_edit", "classroom"), EDIT),
    ("classroom_delete", "get", page("learning:classroom_delete", "classroom"), EDIT),
    ("classroom_regenerate_code", "post", page("learning:classroom_regenerate_code", "classroom"), expect(302)),
    ("course_create", "get", page("learning:course_create", "classroom"), EDIT),
    ("course_detail", "get", page("learning:course_detail", "course"), READ),
    ("course_edit", "get", page("learning:course_edit", "course"), EDIT),
    ("course_delete", "get", page("learning:course_delete", "course"), EDIT),
    ("course_move", "post", page("learning:course_move", "course"), expect(302)),
    ("lesson_create", "get", page("learning:lesson_create", "course"), EDIT),
    ("lesson_detail", "get", page("learning:lesson_detail", "lesson"), READ),
    ("lesson_detail_draft", "get", page("learning:lesson_detail", "draft"), DRAFT),
    ("lesson_edit", "get", page("learning:lesson_edit", "lesson"), EDIT),
    ("lesson_delete", "get", page("learning:lesson_delete", "lesson"), EDIT),
    ("lesson_deck_create", "get", page("learning:lesson_deck_create", "lesson"), EDIT),
    ("deck_list", "get", page("learning:deck_list"), ANY_USER),
    ("deck_create", "get", page("learning:deck_create"), ANY_USER),
    ("deck_detail", "get", page("learning:deck_detail", "deck"), READ),
    ("deck_detail_draft", "get", page("learning:deck_detail", "draft_deck"), DRAFT),
    ("deck_edit", "get", page("learning:deck_edit", "deck"), EDIT),
    ("deck_delete", "get", page("learning:deck_delete", "deck"), EDIT),
    ("deck_move", "post", page("learning:deck_move", "deck"), expect(302)),
    ("card_create", "get", page("learning:card_create", "deck"), EDIT),
    ("cards_bulk_add", "get", page("learning:cards_bulk_add", "deck"), EDIT),
    ("card_edit", "get", page("learning:card_edit", "card"), EDIT),
    ("card_delete", "get", page("learning:card_delete", "card"), EDIT),
    ("card_delete_post", "post", page("learning:card_delete", "card"), expect(302)),
    ("card_move", "post", page("learning:card_move", "card"), expect(302)),
    ("card_image", "get", page("learning:card_image", "card"), READ),
    ("card_image_draft", "get", page("learning:card_image", "draft_card"), expect(404, student=404)),
    ("personal_deck", "get", page("learning:deck_detail", "personal"), PERSONAL),
    ("personal_deck_edit", "get", page("learning:deck_edit", "personal"), PERSONAL),
    ("personal_card_edit", "get", page("learning:card_edit", "personal_card"), PERSONAL),
    ("personal_card_create", "get", page("learning:card_create", "personal"), PERSONAL),
    ("join", "get", page("learning:join"), ANY_USER),
]


@pytest.fixture
def people(request) -> dict:
    def get(name: str):
        return None if name == "anonymous" else request.getfixturevalue(name)

    return get


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("label", "method", "url", "expected"), PAGE_CASES, ids=[c[0] for c in PAGE_CASES])
def test_page_access(world, people, client_for, persona, label, method, url, expected):
    client = client_for(people(persona))
    data = {"direction": "down"} if label.endswith("_move") else {}
    response = getattr(client, method)(url(world), data)
    assert response.status_code == expected[persona], f"{label} as {persona}: {response.status_code}"
    if persona == "anonymous":
        assert response["Location"].startswith(reverse("login"))


def test_enrollment_remove_matrix(world, people, client_for, student):
    url = reverse("learning:enrollment_remove", args=[world.classroom.pk, student.pk])
    for persona, status in [("anonymous", 302), ("outsider", 404), ("student", 403), ("rival_teacher", 404)]:
        assert client_for(people(persona)).post(url).status_code == status, persona
    assert Enrollment.objects.filter(classroom=world.classroom, student=student).exists()
    assert client_for(people("teacher")).post(url).status_code == 302
    assert not Enrollment.objects.filter(classroom=world.classroom, student=student).exists()


def test_refused_writes_change_nothing(world, people, client_for):
    """A refused POST to an edit form writes nothing."""
    url = reverse("learning:classroom_edit", args=[world.classroom.pk])
    for persona in ("outsider", "student", "rival_teacher"):
        client_for(people(persona)).post(url, {"name": "Hacked"})
    assert Classroom.objects.get(pk=world.classroom.pk).name == "Biology"
    card_url = reverse("learning:card_delete", args=[world.card.pk])
    for persona in ("outsider", "student", "rival_teacher"):
        client_for(people(persona)).post(card_url)
    assert Card.objects.filter(pk=world.card.pk).exists()


# --- API -----------------------------------------------------------------------------------


def api_expect(ok: int, *, student: int = 403, outsider: int = 404, rival: int = 404) -> dict[str, int]:
    return {**expect(ok, student=student, outsider=outsider, rival=rival), "anonymous": 401}


A_READ = api_expect(200, student=200)
A_EDIT = api_expect(200)
A_DRAFT = api_expect(200, student=404)
A_PERSONAL = {"anonymous": 401, "outsider": 404, "student": 200, "rival_teacher": 404, "teacher": 404, "admin": 200}


def api(path: str, attr: str | None = None) -> callable:
    def url(w: World) -> str:
        return f"/api/v1/{path}/" + (f"{getattr(w, attr).pk}/" if attr else "")

    return url


API_CASES = [
    ("classroom_get", "get", api("classrooms", "classroom"), None, A_READ),
    ("classroom_patch", "patch", api("classrooms", "classroom"), {"name": "X"}, A_EDIT),
    ("classroom_delete", "delete", api("classrooms", "classroom"), None, api_expect(204)),
    ("classroom_students", "get", lambda w: f"/api/v1/classrooms/{w.classroom.pk}/students/", None, A_EDIT),
    ("classroom_code", "post", lambda w: f"/api/v1/classrooms/{w.classroom.pk}/regenerate-code/", None, A_EDIT),
    (
        "classroom_create",
        "post",
        api("classrooms"),
        {"name": "New"},
        api_expect(201, student=403, outsider=403, rival=201),
    ),
    ("course_get", "get", api("courses", "course"), None, A_READ),
    ("course_patch", "patch", api("courses", "course"), {"title": "X"}, A_EDIT),
    ("course_delete", "delete", api("courses", "course"), None, api_expect(204)),
    ("course_create", "post", api("courses"), lambda w: {"classroom": w.classroom.pk, "title": "C"}, api_expect(201)),
    (
        "course_reorder",
        "post",
        lambda w: "/api/v1/courses/reorder/",
        lambda w: {"classroom": w.classroom.pk, "ids": [w.course.pk]},
        A_EDIT,
    ),
    ("lesson_get", "get", api("lessons", "lesson"), None, A_READ),
    ("lesson_get_draft", "get", api("lessons", "draft"), None, A_DRAFT),
    ("lesson_patch", "patch", api("lessons", "lesson"), {"title": "X"}, A_EDIT),
    ("lesson_delete", "delete", api("lessons", "lesson"), None, api_expect(204)),
    ("lesson_create", "post", api("lessons"), lambda w: {"course": w.course.pk, "title": "L"}, api_expect(201)),
    ("deck_get", "get", api("decks", "deck"), None, A_READ),
    ("deck_get_draft", "get", api("decks", "draft_deck"), None, A_DRAFT),
    ("deck_patch", "patch", api("decks", "deck"), {"title": "X"}, A_EDIT),
    ("deck_delete", "delete", api("decks", "deck"), None, api_expect(204)),
    ("deck_create_in_lesson", "post", api("decks"), lambda w: {"lesson": w.lesson.pk, "title": "D"}, api_expect(201)),
    (
        "deck_create_personal",
        "post",
        api("decks"),
        {"title": "Mine"},
        api_expect(201, student=201, outsider=201, rival=201),
    ),
    ("personal_deck_get", "get", api("decks", "personal"), None, A_PERSONAL),
    ("personal_deck_patch", "patch", api("decks", "personal"), {"title": "X"}, A_PERSONAL),
    ("card_get", "get", api("cards", "card"), None, A_READ),
    ("card_get_draft", "get", api("cards", "draft_card"), None, A_DRAFT),
    ("card_patch", "patch", api("cards", "card"), {"front": "X"}, A_EDIT),
    ("card_delete", "delete", api("cards", "card"), None, api_expect(204)),
    ("card_create", "post", api("cards"), lambda w: {"deck": w.deck.pk, "front": "F", "back": "B"}, api_expect(201)),
    (
        "card_bulk",
        "post",
        lambda w: "/api/v1/cards/bulk/",
        lambda w: {"deck": w.deck.pk, "text": "a;b"},
        api_expect(201),
    ),
    (
        "card_create_personal",
        "post",
        api("cards"),
        lambda w: {"deck": w.personal.pk, "front": "F", "back": "B"},
        {**A_PERSONAL, "student": 201, "admin": 201},
    ),
    ("personal_card_get", "get", api("cards", "personal_card"), None, A_PERSONAL),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("label", "method", "url", "data", "expected"), API_CASES, ids=[c[0] for c in API_CASES])
def test_api_access(world, people, api_for, persona, label, method, url, data, expected):
    client = api_for(people(persona))
    payload = data(world) if callable(data) else data
    response = getattr(client, method)(url(world), payload, format="json")
    assert response.status_code == expected[persona], (
        f"{label} as {persona}: {response.status_code} {response.content[:200]}"
    )
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}


EXPECTED_IN_LISTS = {
    # persona: which of the world's objects each list shows
    "outsider": {"classrooms": set(), "lessons": set(), "decks": set(), "cards": set()},
    "student": {
        "classrooms": {"classroom"},
        "lessons": {"lesson"},
        "decks": {"deck", "personal"},
        "cards": {"card", "personal_card"},
    },
    "rival_teacher": {"classrooms": {"rival_class"}, "lessons": set(), "decks": set(), "cards": set()},
    "teacher": {
        "classrooms": {"classroom"},
        "lessons": {"lesson", "draft"},
        "decks": {"deck", "draft_deck"},
        "cards": {"card", "draft_card"},
    },
}


@pytest.mark.parametrize("persona", sorted(EXPECTED_IN_LISTS))
def test_api_lists_show_exactly_what_each_persona_may_see(world, people, api_for, persona):
    client = api_for(people(persona))
    for resource, attrs in EXPECTED_IN_LISTS[persona].items():
        body = client.get(f"/api/v1/{resource}/?page_size=200").json()
        ids = {row["id"] for row in body["results"]}
        wanted = {getattr(world, a).pk for a in attrs}
        if resource == "cards":
            # the world's deck holds a second, untagged card the same people see
            ids = {i for i in ids if Card.objects.get(pk=i).front != "Ribosome"}
        assert ids == wanted, f"{persona} {resource}"


def test_admin_lists_see_everything(world, admin, api_for):
    body = api_for(admin).get("/api/v1/classrooms/").json()
    assert body["count"] == Classroom.objects.count() == 2


def test_join_code_is_shown_to_the_teacher_only(world, api_for, student, teacher):
    url = f"/api/v1/classrooms/{world.classroom.pk}/"
    assert api_for(student).get(url).json()["join_code"] is None
    assert api_for(teacher).get(url).json()["join_code"] == world.classroom.join_code
