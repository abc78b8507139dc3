"""Who may see and change what, in one place.

`get_<thing>_for(user, pk, write=False)` returns the object or raises Http404
when the user may not see it (its existence is not revealed) and
PermissionDenied when they may see it but not change it. Pages, the API and
study code all load objects through these helpers.
"""

from __future__ import annotations

import functools

from django.core.exceptions import PermissionDenied
from django.http import Http404

from learning.models import Card, Classroom, Course, Deck, Lesson
from learning.visibility import visible_decks
from lms import rawsql
from lms.models import User


def is_admin(user: User) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.role == User.Role.ADMIN))


def can_edit_classroom(user: User, classroom: Classroom) -> bool:
    return is_admin(user) or classroom.teacher_id == user.pk


def can_edit_deck(user: User, deck: Deck) -> bool:
    if is_admin(user):
        return True
    if deck.lesson_id is None:
        return deck.owner_id == user.pk
    return deck.lesson.course.classroom.teacher_id == user.pk


def can_create_classroom(user: User) -> bool:
    return user.is_authenticated and user.role in (User.Role.TEACHER, User.Role.ADMIN)


def _load(queryset, pk: object):  # noqa: ANN001, ANN202
    try:
        return queryset.get(pk=int(pk))
    except (queryset.model.DoesNotExist, TypeError, ValueError):
        raise Http404(f"No {queryset.model._meta.verbose_name} {pk!r} for this user.") from None


def _check(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied("You can see this but not change it.")


def get_classroom_for(user: User, pk: object, *, write: bool = False) -> Classroom:
    classroom = _load(Classroom.objects.visible_to(user).select_related("teacher"), pk)
    if write:
        _check(can_edit_classroom(user, classroom))
    return classroom


def get_course_for(user: User, pk: object, *, write: bool = False) -> Course:
    course = _load(Course.objects.visible_to(user), pk)
    if write:
        _check(can_edit_classroom(user, course.classroom))
    return course


def get_lesson_for(user: User, pk: object, *, write: bool = False) -> Lesson:
    lesson = _load(Lesson.objects.visible_to(user), pk)
    if write:
        _check(can_edit_classroom(user, lesson.course.classroom))
    return lesson


def get_deck_for(user: User, pk: object, *, write: bool = False) -> Deck:
    deck = _load(Deck.objects.visible_to(user), pk)
    if write:
        _check(can_edit_deck(user, deck))
    return deck


def get_card_for(user: User, pk: object, *, write: bool = False) -> Card:
    card = _load(Card.objects.visible_to(user), pk)
    if write:
        _check(can_edit_deck(user, card.deck))
    return card


@functools.cache
def _card_sql() -> str:
    return (
        f"SELECT {rawsql.columns(Card, 'c')}, {rawsql.columns(Deck, 'd')}"  # noqa: S608 - names are ours
        f" FROM {rawsql.table(Card)} c INNER JOIN {rawsql.table(Deck)} d ON d.id = c.deck_id WHERE c.id = %s"
    )


def get_card_to_study_for(user: User, pk: object) -> Card:
    """A card with its deck (and nothing further up) for the study loop: loaded
    by primary key, then one check against the user's cached visible decks
    (learning.visibility) instead of the visibility joins. 404 when hidden."""
    try:
        value = int(pk)  # type: ignore[call-overload]
        if not 0 < value < 2**63:  # beyond any id; SQLite would overflow
            raise ValueError(value)
    except (TypeError, ValueError):
        raise Http404(f"No card {pk!r} for this user.") from None
    # Every answer/ runs this: one statement written out (lms.rawsql), not
    # compiled by the ORM on each call.
    row = rawsql.fetch_one(_card_sql(), [value])
    if row is None or not visible_decks(user).can_read(row[_CARD_DECK_AT]):
        raise Http404(f"No card {pk!r} for this user.")
    card = rawsql.build(Card, row)
    card.deck = rawsql.build(Deck, row, rawsql.width(Card))
    return card


_CARD_DECK_AT = [field.attname for field in Card._meta.concrete_fields].index("deck_id")


def get_class_student_for(user: User, pk: object, student_id: object) -> tuple[Classroom, User]:
    """A class and one of its students, for that student's progress page.
    Who cannot see the class, or asks for someone not enrolled in it, gets
    404; the class's teacher and admins see any of its students; a student
    sees only themself (a classmate's page is 403: the class is visible, the
    page is not theirs)."""
    classroom = get_classroom_for(user, pk)
    student = _load(User.objects.filter(enrollments__classroom=classroom), student_id)
    _check(can_edit_classroom(user, classroom) or student.pk == user.pk)
    return classroom, student
