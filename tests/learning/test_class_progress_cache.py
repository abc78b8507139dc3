"""A class's progress from the cache equals the live figures after answers
(in a class session and in an "all my cards" session), undo,
enrolments, schedule, card and deck deletion; an answer makes only its
student's and its card's figures read again; another class's answers leave
it cached."""

from __future__ import annotations

from learning import progress, study
from learning.models import Card, CardState, Enrollment
from tests.factories import UserFactory
from tests.learning.study_setup import make_class


def assert_cached_is_live(classroom) -> None:
    for sort, descending in (("name", False), ("mastery", True)):
        cached = progress.cached_class_progress(classroom, sort=sort, descending=descending)
        live = progress.class_progress(classroom, sort=sort, descending=descending)
        assert progress.class_progress_dict(cached) == progress.class_progress_dict(live)


def answer_some(student, scope_type, scope_id, count) -> None:
    session = study.session_start(student=student, scope_type=scope_type, scope_id=scope_id, mode="learn")
    for card_id in session.queue[:count]:
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=5)


def test_the_cached_class_progress_follows_every_change(teacher, rival_teacher, student, django_assert_num_queries):
    setup = make_class(teacher, [student], decks=2, cards_per_deck=4)
    classroom = setup.classroom
    assert_cached_is_live(classroom)
    with django_assert_num_queries(2):  # read live: the tests and the leeches (no card answered yet)
        progress.cached_class_progress(classroom)

    answer_some(student, "classroom", classroom.pk, 3)
    assert_cached_is_live(classroom)
    assert progress.class_progress_dict(progress.cached_class_progress(classroom))["students"][0]["studied"] == 3

    answer_some(student, "all", None, 2)  # no class on the session: every class of the student
    assert_cached_is_live(classroom)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[1].pk, mode="learn")
    study.session_answer(student=student, session_id=session.pk, card_id=session.queue[0], quality=1)
    study.session_undo(student=student, session_id=session.pk)
    assert_cached_is_live(classroom)

    newcomer = UserFactory(username="nina", role="student")
    Enrollment.objects.create(classroom=classroom, student=newcomer)
    assert_cached_is_live(classroom)
    Card.objects.filter(pk=setup.cards[0].pk).delete()
    assert_cached_is_live(classroom)
    setup.decks[1].delete()
    assert_cached_is_live(classroom)
    Enrollment.objects.filter(student=newcomer).delete()
    assert_cached_is_live(classroom)

    other = make_class(rival_teacher, [newcomer], name="Chemistry")
    progress.cached_class_progress(classroom)
    answer_some(newcomer, "classroom", other.classroom.pk, 2)  # another class: nothing of this one is read again
    with django_assert_num_queries(2):  # read live: the tests and the leeches (the hardest cards' texts are kept)
        progress.cached_class_progress(classroom)


def test_class_progress_pages_use_the_cache_and_refuse_outsiders(client_for, api_for, teacher, student, outsider):
    setup = make_class(teacher, [student])
    url = f"/api/v1/classrooms/{setup.classroom.pk}/progress/"
    assert api_for(teacher).get(url).status_code == 200
    assert api_for(outsider).get(url).status_code == 404
    assert api_for(student).get(url).status_code == 403


def test_an_answer_reads_again_only_its_student_and_card(teacher, django_assert_num_queries):
    students = [UserFactory(username=f"s{i}", role="student") for i in range(6)]
    setup = make_class(teacher, students, decks=2, cards_per_deck=4)
    classroom = setup.classroom
    for student in students:
        answer_some(student, "classroom", classroom.pk, 3)
    assert_cached_is_live(classroom)

    answer_some(students[2], "classroom", classroom.pk, 1)
    # Read live: the tests and the leeches; read again: that student's
    # activity and schedules, that card's lapses and answers; read once: the
    # text of that card, answered for the first time and now among the hardest.
    with django_assert_num_queries(2 + 4 + 1):
        progress.cached_class_progress(classroom)
    assert_cached_is_live(classroom)

    CardState.objects.filter(student=students[4]).first().delete()
    assert_cached_is_live(classroom)
    Enrollment.objects.filter(student=students[5]).delete()
    assert_cached_is_live(classroom)
