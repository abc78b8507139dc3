"""The study API: sessions, idempotent answers, reviews, progress, permissions, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from learning.models import Card, CardState, Deck, Lesson, Review, StudySession
from learning.study import study_day
from tests.factories import UserFactory
from tests.learning.study_setup import make_class

SESSIONS = "/api/v1/study-sessions/"


def start(api, **body):
    return api.post(SESSIONS, body, format="json")


@pytest.fixture
def setup(teacher, student):
    return make_class(teacher, [student], cards_per_deck=4)


def test_start_next_answer_end_round_trip(api_for, student, setup):
    api = api_for(student)
    response = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    assert response.status_code == 201
    session = response.json()
    assert session["remaining"] == 4 and session["status"] == "active"

    nxt = api.get(f"{SESSIONS}{session['id']}/next/").json()
    assert nxt["card"]["id"] == setup.cards[0].pk and nxt["card"]["front"] == "Q0-0"
    # SM-2 with learning steps (the default): minutes on the first three buttons.
    assert nxt["previews"] == {"1": "<1m", "3": "<6m", "4": "<10m", "5": "4d"}
    assert nxt["preview_seconds"] == {"1": 60, "3": 330, "4": 600, "5": 4 * 86400}
    assert nxt["counts"] == {"new": 4, "learning": 0, "due": 0}
    assert nxt["state"]["status"] == "new" and nxt["scheduler"] == "sm2"

    answered = api.post(
        f"{SESSIONS}{session['id']}/answer/",
        {"card": nxt["card"]["id"], "quality": 4, "response_ms": 2300, "idempotency_key": "a-1"},
        format="json",
    )
    assert answered.status_code == 201
    body = answered.json()
    assert body["schedule"] == {"repetitions": 0, "interval": 0, "ease": 2.5}
    assert body["state"]["status"] == "learning" and body["state"]["step"] == 1
    assert body["counts"] == {"new": 3, "learning": 1, "due": 0}
    assert body["changed_schedule"] and not body["redrill"] and not body["session_done"]

    ended = api.post(f"{SESSIONS}{session['id']}/end/").json()
    assert ended["status"] == "completed" and ended["cards_studied"] == 1
    assert api.get(f"{SESSIONS}{session['id']}/next/").json()["done"] is True
    listing = api.get(SESSIONS).json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == session["id"]


def test_the_same_idempotency_key_twice_records_one_review_and_returns_the_same_result(api_for, student, setup):
    api = api_for(student)
    session = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn").json()
    body = {"card": setup.cards[0].pk, "quality": 5, "idempotency_key": "k-42"}
    first = api.post(f"{SESSIONS}{session['id']}/answer/", body, format="json")
    second = api.post(f"{SESSIONS}{session['id']}/answer/", body, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert {k: v for k, v in first.json().items() if k != "replayed"} == {
        k: v for k, v in second.json().items() if k != "replayed"
    }
    assert Review.objects.count() == 1
    state = CardState.objects.get()
    assert (state.repetitions, state.reviews_count) == (1, 1)
    assert StudySession.objects.get().answers_count == 1

    reused = api.post(
        f"{SESSIONS}{session['id']}/answer/",
        {"card": setup.cards[1].pk, "quality": 5, "idempotency_key": "k-42"},
        format="json",
    )
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    "body",
    [
        {"quality": 9},
        {"quality": "good"},
        {},
        {"quality": 4, "response_ms": -5},
        {"quality": 4, "idempotency_key": "x" * 65},
    ],
)
def test_bad_answers_get_400_in_the_error_shape_and_write_nothing(api_for, student, setup, body):
    api = api_for(student)
    session = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn").json()
    response = api.post(f"{SESSIONS}{session['id']}/answer/", {"card": setup.cards[0].pk, **body}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert not Review.objects.exists() and not CardState.objects.exists()


def test_answering_a_card_not_in_the_session_is_422(api_for, student, setup):
    api = api_for(student)
    session = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="test", size=1).json()
    queued = StudySession.objects.get().queue[0]
    other = next(c for c in setup.cards if c.pk != queued)
    response = api.post(f"{SESSIONS}{session['id']}/answer/", {"card": other.pk, "answer": "x"}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "card_not_in_session"


def test_nothing_to_study_is_422(api_for, student, setup):
    response = start(api_for(student), scope_type="deck", scope_id=setup.decks[0].pk, mode="review")
    assert response.status_code == 422 and response.json()["error"]["code"] == "nothing_to_study"


def test_outsider_cannot_start_on_another_class_deck(api_for, outsider, setup):
    api = api_for(outsider)
    for scope_type, scope_id in (
        ("deck", setup.decks[0].pk),
        ("lesson", setup.lesson.pk),
        ("course", setup.course.pk),
        ("classroom", setup.classroom.pk),
    ):
        assert start(api, scope_type=scope_type, scope_id=scope_id, mode="cram").status_code == 404
    assert not StudySession.objects.exists()


def test_student_cannot_study_an_unpublished_lesson(api_for, student, setup, teacher):
    hidden = Lesson.objects.create(course=setup.course, title="Draft", published=False)
    deck = Deck.objects.create(title="Draft deck", owner=teacher, lesson=hidden)
    Card.objects.create(deck=deck, front="secret", back="x")
    assert start(api_for(student), scope_type="deck", scope_id=deck.pk, mode="cram").status_code == 404
    class_session = start(api_for(student), scope_type="classroom", scope_id=setup.classroom.pk, mode="cram").json()
    assert class_session["remaining"] == 4  # the draft card is not in it


def test_student_cannot_answer_a_card_outside_their_classes(api_for, student, setup, rival_teacher):
    other = make_class(rival_teacher, [], name="Chemistry")
    api = api_for(student)
    session = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn").json()
    response = api.post(f"{SESSIONS}{session['id']}/answer/", {"card": other.cards[0].pk, "quality": 5}, format="json")
    assert response.status_code == 404
    assert not Review.objects.exists()


def test_students_cannot_see_or_use_each_others_sessions(api_for, student, setup):
    api = api_for(student)
    session = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn").json()
    classmate = UserFactory(username="cleo")
    setup.classroom.enrollments.create(student=classmate)
    other = api_for(classmate)
    assert other.get(f"{SESSIONS}{session['id']}/").status_code == 404
    assert other.get(f"{SESSIONS}{session['id']}/next/").status_code == 404
    answer = other.post(f"{SESSIONS}{session['id']}/answer/", {"card": setup.cards[0].pk, "quality": 5}, format="json")
    assert answer.status_code == 404
    assert other.post(f"{SESSIONS}{session['id']}/end/").status_code == 404
    assert other.get(SESSIONS).json()["count"] == 0


def test_anonymous_gets_401(api_for, setup):
    assert api_for(None).get(SESSIONS).status_code == 401
    assert api_for(None).get("/api/v1/progress/").status_code == 401


def test_reviews_are_own_paginated_and_filterable(api_for, student, setup):
    api = api_for(student)
    session = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn").json()
    for card in setup.cards[:3]:
        api.post(f"{SESSIONS}{session['id']}/answer/", {"card": card.pk, "quality": 4}, format="json")
    body = api.get("/api/v1/reviews/", {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    row = body["results"][0]
    assert {"card", "quality", "reviewed_at", "interval_before", "interval_after", "changed_schedule"} <= set(row)
    assert api.get("/api/v1/reviews/", {"card": setup.cards[0].pk}).json()["count"] == 1
    assert api.get("/api/v1/reviews/", {"mode": "cram"}).json()["count"] == 0
    assert api.get("/api/v1/reviews/", {"card": "abc"}).status_code == 400
    assert api.get("/api/v1/reviews/", {"since": "yesterday"}).status_code == 400
    assert api_for(UserFactory(username="zed")).get("/api/v1/reviews/").json()["count"] == 0


def test_progress_api_returns_own_figures(api_for, student, setup):
    api = api_for(student)
    session = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn").json()
    api.post(f"{SESSIONS}{session['id']}/answer/", {"card": setup.cards[0].pk, "quality": 4}, format="json")
    body = api.get("/api/v1/progress/").json()
    assert body["total_reviews"] == 1 and body["reviews_today"] == 1
    assert body["streak"] == {"current": 1, "longest": 1}
    # Good on a new card: its next learning step is ten minutes away, on the
    # study day those ten minutes fall in (the next one just before 4 am).
    due_at = CardState.objects.get(student=student, card=setup.cards[0]).due_at
    due_day = study_day(student, due_at).isoformat()
    assert len(body["forecast"]) == 30 and sum(d["due"] for d in body["forecast"]) == 1
    assert next(d["due"] for d in body["forecast"] if d["date"] == due_day) == 1
    assert body["decks"][0]["studied"] == 1 and body["decks"][0]["cards"] == 4


def test_class_progress_is_for_the_class_teacher_only(api_for, teacher, rival_teacher, student, admin, setup):
    url = f"/api/v1/classrooms/{setup.classroom.pk}/progress/"
    assert api_for(teacher).get(url).status_code == 200
    assert api_for(admin).get(url).status_code == 200
    assert api_for(rival_teacher).get(url).status_code == 404
    assert api_for(student).get(url).status_code == 403
    body = api_for(teacher).get(url).json()
    assert [s["username"] for s in body["students"]] == ["sam"]
    assert body["students"][0]["falling_behind"] is True  # has not started


def answer_queries(api, session_id, card_id, quality=4):
    with CaptureQueriesContext(connection) as ctx:
        response = api.post(
            f"{SESSIONS}{session_id}/answer/",
            {"card": card_id, "quality": quality, "idempotency_key": f"q{card_id}"},
            format="json",
        )
    assert response.status_code == 201, response.json()
    return len(ctx.captured_queries)


def test_answering_runs_a_small_fixed_number_of_queries(api_for, teacher, student):
    small = make_class(teacher, [student], cards_per_deck=3, name="Small")
    large = make_class(teacher, [student], decks=3, cards_per_deck=40, name="Large")
    api = api_for(student)
    counts = []
    for setup in (small, large):
        session = start(api, scope_type="classroom", scope_id=setup.classroom.pk, mode="learn").json()
        queue = StudySession.objects.get(pk=session["id"]).queue
        counts.append(answer_queries(api, session["id"], queue[0]))  # a new card: the state is created
        counts.append(answer_queries(api, session["id"], queue[1]))
    # Auth + session lock, card, key check, state lock (+ insert + relock for a
    # new card), state update, review insert, session update, savepoints.
    assert counts[0] == counts[2] and counts[1] == counts[3]
    assert max(counts) <= 14


def test_answering_a_known_card_in_review(api_for, django_assert_max_num_queries, teacher, student):
    from datetime import timedelta

    from django.utils import timezone

    setup = make_class(teacher, [student], cards_per_deck=50)
    for card in setup.cards:
        CardState.objects.create(
            student=student, card=card, status="review", repetitions=2, interval=6, due_at=timezone.now() - timedelta(1)
        )
    api = api_for(student)
    session = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="review").json()
    queue = StudySession.objects.get(pk=session["id"]).queue
    assert len(queue) == 50
    assert answer_queries(api, session["id"], queue[0]) <= 11


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "deck", "scope_id": "DECK", "mode": "learn"},
        {"scope": {"type": "deck", "id": "DECK"}, "mode": "learn"},
        {"deck": "DECK", "mode": "learn"},
    ],
)
def test_start_accepts_common_scope_shapes(api_for, student, setup, body):
    body = {k: (setup.decks[0].pk if v == "DECK" else v) for k, v in body.items()}
    if isinstance(body.get("scope"), dict):
        body["scope"] = {"type": "deck", "id": setup.decks[0].pk}
    response = api_for(student).post(SESSIONS, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["scope_type"] == "deck"


def test_idempotency_key_may_come_in_a_header(api_for, student, setup):
    api = api_for(student)
    session = start(api, scope_type="class", scope_id=setup.classroom.pk, mode="learn").json()
    for _ in range(2):
        response = api.post(
            f"{SESSIONS}{session['id']}/answer/",
            {"card_id": setup.cards[0].pk, "quality": 4},
            format="json",
            HTTP_IDEMPOTENCY_KEY="hdr-1",
        )
    assert response.status_code == 200 and response.json()["replayed"] is True
    assert Review.objects.count() == 1


def test_huge_ids_are_404_or_400_not_500(api_for, student, setup):
    api = api_for(student)
    huge = "9" * 25
    assert api.get(f"{SESSIONS}{huge}/").status_code == 404
    assert api.post(f"{SESSIONS}{huge}/answer/", {"card": 1, "quality": 4}, format="json").status_code == 404
    session = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn").json()
    too_big = api.post(f"{SESSIONS}{session['id']}/answer/", {"card": int(huge), "quality": 4}, format="json")
    assert too_big.status_code == 400
    assert start(api, scope_type="deck", scope_id=int(huge), mode="learn").status_code == 400


def test_undo_api_takes_back_the_last_answer_once(api_for, student, outsider, setup):
    api = api_for(student)
    session = start(api, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn").json()
    url = f"{SESSIONS}{session['id']}/"
    api.post(f"{url}answer/", {"card": setup.cards[0].pk, "quality": 4, "idempotency_key": "u-1"}, format="json")
    assert api.get(url).json()["can_undo"] is True
    assert api_for(outsider).post(f"{url}undo/").status_code == 404
    undone = api.post(f"{url}undo/")
    assert undone.status_code == 200
    assert undone.json() == {
        "undone": True,
        "card": setup.cards[0].pk,
        "quality": 4,
        "counts": {"new": 4, "learning": 0, "due": 0},
        "session_status": "active",
    }
    again = api.post(f"{url}undo/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "nothing_to_undo"
    assert not Review.objects.exists() and not CardState.objects.exists()
    assert api.get(f"{url}next/").json()["card"]["id"] == setup.cards[0].pk
