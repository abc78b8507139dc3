"""Test mode: typos within the tolerance count (with the difference shown),
every answer gets a character diff, and "I was right" overrides a wrong mark
(the score follows and the teacher sees it)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from learning import study
from learning.answer_diff import allowed_edits, char_diff, edit_distance, near_enough
from learning.models import Card, Review, StudySession
from tests.learning.study_setup import make_class


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("lithum", "lithium", 1), ("flourine", "fluorine", 1), ("cat", "cut", 1), ("abc", "abc", 0), ("", "ab", 2)],
)
def test_edit_distance_counts_swaps_as_one(a, b, distance):
    assert edit_distance(a, b) == distance


def test_edit_distance_stops_past_the_limit():
    assert edit_distance("aaaaaaaaaa", "bbbbbbbbbb", limit=1) == 2
    assert edit_distance("a", "abcdef", limit=2) == 3


@pytest.mark.parametrize(("length", "allowed"), [(3, 0), (6, 0), (7, 1), (13, 1), (14, 2)])
def test_allowed_edits_scale_with_the_answer(length, allowed):
    assert allowed_edits("x" * length, 0.15) == allowed
    assert allowed_edits("x" * length, 0) == 0


def test_near_enough_needs_a_long_enough_answer():
    assert near_enough("lithum", "lithium", 0.15)
    assert not near_enough("cut", "cat", 0.15)
    assert not near_enough("lithium", "lithium", 0.15)  # exact is not a near miss
    assert not near_enough("lthm", "lithium", 0.15)


def test_char_diff_marks_wrong_and_missing_characters():
    typed, expected = char_diff("Flourine", "fluorine")
    # A swap shows as one character too many on the typed line, one missing on the expected.
    assert [s.kind for s in typed].count("wrong") == 1 and len("".join(s.text for s in typed if s.kind == "wrong")) == 1
    assert "".join(s.text for s in typed) == "Flourine" and "".join(s.text for s in expected) == "fluorine"
    assert [s.kind for s in expected].count("missing") == 1


def _test_on(student, setup, card):
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="test", size=50)
    assert card.pk in session.queue
    return session


@pytest.fixture
def chemistry(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=0, name="Chemistry")
    cards = [
        Card.objects.create(deck=setup.decks[0], front="Element 3", back="lithium", position=0),
        Card.objects.create(deck=setup.decks[0], front="Element 9", back="fluorine", position=1),
        Card.objects.create(deck=setup.decks[0], front="Element 26", back="Fe", position=2),
    ]
    setup.cards[:] = cards
    return setup


def test_a_typo_is_right_with_the_difference_shown(client_for, student, chemistry):
    lithium = chemistry.cards[0]
    session = _test_on(student, chemistry, lithium)
    response = client_for(student).post(
        f"/study/sessions/{session.pk}/answer/", {"card": lithium.pk, "answer": "lithum"}, HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert "✓ Right" in page and "close enough" in page
    assert "<span>lith</span><span>um</span>" in page  # typed, nothing wrong in it
    assert "<span>lith</span><ins>i</ins><span>um</span>" in page  # expected, the missing i marked
    review = Review.objects.get(session=session)
    assert review.correct and review.near_miss and review.typed_answer == "lithum"


def test_a_short_answer_must_be_exact(student, chemistry):
    iron = chemistry.cards[2]
    session = _test_on(student, chemistry, iron)
    result = study.session_answer(student=student, session_id=session.pk, card_id=iron.pk, answer="Fr")
    assert not result.correct and not result.review.near_miss


@override_settings(TEST_TYPO_TOLERANCE=0)
def test_the_tolerance_can_be_turned_off(student, chemistry):
    lithium = chemistry.cards[0]
    session = _test_on(student, chemistry, lithium)
    result = study.session_answer(student=student, session_id=session.pk, card_id=lithium.pk, answer="lithum")
    assert not result.correct


def test_a_wrong_answer_shows_the_diff_and_i_was_right_changes_the_score(
    client_for, api_for, teacher, student, chemistry
):
    session = _test_on(student, chemistry, chemistry.cards[0])
    client = client_for(student)
    answers = {chemistry.cards[0].pk: "lithium", chemistry.cards[1].pk: "chlorine", chemistry.cards[2].pk: "Fe"}
    wrong_page = ""
    for card_id in list(session.queue):
        page = client.post(
            f"/study/sessions/{session.pk}/answer/",
            {"card": card_id, "answer": answers[card_id]},
            HTTP_HX_REQUEST="true",
        ).content.decode()
        if card_id == chemistry.cards[1].pk:
            wrong_page = page
    assert "✗ Not quite" in wrong_page and "<del>" in wrong_page and "data-override" in wrong_page
    session.refresh_from_db()
    assert session.status == "completed" and session.score == 66.7

    wrong = Review.objects.get(session=session, correct=False)
    response = client.post(f"/study/sessions/{session.pk}/override/", {"review": wrong.pk}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "you marked it right" in response.content.decode()
    session.refresh_from_db()
    wrong.refresh_from_db()
    assert session.score == 100.0 and wrong.correct and wrong.overridden_at is not None
    assert wrong.typed_answer == "chlorine"  # what was typed stays on record

    teacher_page = (
        client_for(teacher).get(f"/classes/{chemistry.classroom.pk}/progress/students/{student.pk}/").content.decode()
    )
    assert "data-overridden" in teacher_page and "1 marked right by the student" in teacher_page
    assert "100%" in teacher_page
    body = api_for(teacher).get(f"/api/v1/classrooms/{chemistry.classroom.pk}/progress/").json()
    assert body["students"][0]["latest_test_scores"][0]["score"] == 100.0


def test_override_refusals_write_nothing(client_for, api_for, student, outsider, chemistry):
    session = _test_on(student, chemistry, chemistry.cards[0])
    card = chemistry.cards[1]
    study.session_answer(student=student, session_id=session.pk, card_id=card.pk, answer="neon")
    study.session_answer(student=student, session_id=session.pk, card_id=chemistry.cards[0].pk, answer="lithium")
    wrong = Review.objects.get(session=session, correct=False)
    right = Review.objects.get(session=session, correct=True)
    api = api_for(student)
    url = f"/api/v1/study-sessions/{session.pk}/override/"
    for bad in ({}, {"review": "x"}, {"review": 10**30}, {"review": -1}, {"review": 999999}):
        response = api.post(url, bad, format="json")
        assert response.status_code == 422 and response.json()["error"]["code"] == "review_not_in_session"
    response = api.post(url, {"review": right.pk}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "already_right"
    # Someone else's session is hidden.
    assert api_for(outsider).post(url, {"review": wrong.pk}, format="json").status_code == 404
    assert client_for(outsider).post(f"/study/sessions/{session.pk}/override/", {"review": wrong.pk}).status_code == 404
    wrong.refresh_from_db()
    assert not wrong.correct and wrong.overridden_at is None
    ok = api.post(url, {"review": wrong.pk}, format="json")
    assert ok.status_code == 200 and ok.json()["correct"] is True
    assert api.post(url, {"review": wrong.pk}, format="json").status_code == 409  # once


def test_only_test_answers_can_be_overridden(api_for, student, chemistry):
    session = study.session_start(student=student, scope_type="deck", scope_id=chemistry.decks[0].pk, mode="cram")
    review = study.session_answer(student=student, session_id=session.pk, card_id=session.queue[0], quality=1).review
    response = api_for(student).post(
        f"/api/v1/study-sessions/{session.pk}/override/", {"review": review.pk}, format="json"
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "not_a_test"
    assert StudySession.objects.get(pk=session.pk).correct_count == 0


def test_plain_form_override_goes_back_to_the_summary(client_for, student, chemistry):
    session = _test_on(student, chemistry, chemistry.cards[0])
    for card in chemistry.cards:
        study.session_answer(student=student, session_id=session.pk, card_id=card.pk, answer="wrong")
    client = client_for(student)
    summary = client.get(f"/study/sessions/{session.pk}/summary/").content.decode()
    assert summary.count("data-override") == 3 and summary.count("data-answer-diff") == 3
    wrong = Review.objects.filter(session=session).first()
    response = client.post(f"/study/sessions/{session.pk}/override/", {"review": wrong.pk})
    assert response.status_code == 302
