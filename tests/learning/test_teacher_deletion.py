"""Deleting a teacher never deletes students' progress: the classes are archived
under a placeholder owner (docs/privacy.md)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from auditlog.models import LogEntry

from learning import study
from learning.models import Card, CardState, Classroom, Deck, Review, StudySession
from learning.services import FORMER_TEACHER_USERNAME
from lms.models import User
from tests.factories import UserFactory
from tests.learning.study_setup import make_class


def _progress(students: list[User]) -> dict[str, list]:
    """Every student's reviews and schedules, as comparable rows."""
    return {
        "states": sorted(
            CardState.objects.filter(student__in=students).values_list(
                "student_id", "card_id", "due_at", "interval", "ease", "stability"
            )
        ),
        "reviews": sorted(Review.objects.filter(student__in=students).values_list("pk", "card_id", "student_id")),
        "sessions": sorted(StudySession.objects.filter(student__in=students).values_list("pk", "classroom_id")),
    }


@pytest.fixture
def studied_class(teacher: User, student: User, outsider: User):
    setup = make_class(teacher, [student, outsider], cards_per_deck=3)
    for person in (student, outsider):
        session = study.session_start(student=person, scope_type="lesson", scope_id=setup.lesson.pk, mode="learn")
        for card_id in list(session.queue[:2]):
            study.session_answer(student=person, session_id=session.pk, card_id=card_id, quality=4)
    personal = Deck.objects.create(title="Teacher's own", owner=teacher)
    Card.objects.create(deck=personal, front="mine", back="mine")
    return setup, personal


def _delete_one(user: User) -> None:
    user.delete()


def _delete_in_bulk(user: User) -> None:
    User.objects.filter(pk=user.pk).delete()


@pytest.mark.parametrize("delete", [_delete_one, _delete_in_bulk], ids=["model", "queryset"])
def test_deleting_a_teacher_keeps_every_students_reviews_and_schedules(
    delete: Callable[[User], None], studied_class, teacher, student, outsider
):
    setup, personal = studied_class
    before = _progress([student, outsider])
    assert before["states"] and before["reviews"]

    delete(teacher)

    assert not User.objects.filter(pk=teacher.pk).exists()
    assert _progress([student, outsider]) == before
    classroom = Classroom.objects.get(pk=setup.classroom.pk)
    assert classroom.teacher.username == FORMER_TEACHER_USERNAME
    assert classroom.archived
    assert set(Deck.objects.filter(lesson=setup.lesson).values_list("owner__username", flat=True)) == {
        FORMER_TEACHER_USERNAME
    }
    assert Card.objects.filter(deck__lesson=setup.lesson).count() == len(setup.cards)
    # The teacher's personal deck goes with the account.
    assert not Deck.objects.filter(pk=personal.pk).exists()
    # Students still reach their class and its cards.
    assert Classroom.objects.visible_to(student).filter(pk=classroom.pk).exists()


def test_the_placeholder_cannot_log_in(studied_class, teacher, client):
    teacher.delete()
    placeholder = User.objects.get(username=FORMER_TEACHER_USERNAME)
    assert not placeholder.is_active and not placeholder.has_usable_password()


def test_admin_deleting_a_teacher_keeps_progress_and_is_audited(studied_class, client_for, admin, teacher, student):
    before = _progress([student])
    response = client_for(admin).post(f"/admin/lms/user/{teacher.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _progress([student]) == before
    events = [(e.additional_data or {}).get("event") for e in LogEntry.objects.filter(object_pk=str(teacher.pk))]
    assert "user.classes_hand_over" in events


def test_deleting_a_student_deletes_only_their_own_progress(studied_class, student, outsider):
    others = _progress([outsider])
    student.delete()
    assert _progress([outsider]) == others
    assert not CardState.objects.filter(student_id=student.pk).exists()


def test_two_teachers_share_one_placeholder(teacher, rival_teacher):
    make_class(teacher, [], name="A")
    make_class(rival_teacher, [], name="B")
    User.objects.filter(pk__in=[teacher.pk, rival_teacher.pk]).delete()
    assert set(Classroom.objects.values_list("teacher__username", flat=True)) == {FORMER_TEACHER_USERNAME}
    assert User.objects.filter(username=FORMER_TEACHER_USERNAME).count() == 1


def test_a_student_deletion_creates_no_placeholder(student):
    UserFactory(username="temp").delete()
    assert not User.objects.filter(username=FORMER_TEACHER_USERNAME).exists()
