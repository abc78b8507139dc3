"""Builders for study tests: a class with a published lesson and decks of cards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson, Review, StudySession
from lms.models import User


@dataclass
class ClassSetup:
    classroom: Classroom
    course: Course
    lesson: Lesson
    decks: list[Deck]
    cards: list[Card]


def make_class(
    teacher: User,
    students: list[User] = (),
    *,
    decks: int = 1,
    cards_per_deck: int = 5,
    name: str = "Biology",
    new_per_day: int = 20,
    reviews_per_day: int = 200,
    scheduler: str = "sm2",
) -> ClassSetup:
    classroom = Classroom.objects.create(name=name, teacher=teacher)
    for student in students:
        Enrollment.objects.create(classroom=classroom, student=student)
    course = Course.objects.create(classroom=classroom, title=f"{name} course")
    lesson = Lesson.objects.create(course=course, title=f"{name} lesson", published=True)
    made_decks, cards = [], []
    for d in range(decks):
        deck = Deck.objects.create(
            title=f"{name} deck {d + 1}",
            owner=teacher,
            lesson=lesson,
            position=d,
            new_cards_per_day=new_per_day,
            reviews_per_day=reviews_per_day,
            scheduler=scheduler,
        )
        made_decks.append(deck)
        cards += Card.objects.bulk_create(
            [Card(deck=deck, front=f"Q{d}-{i}", back=f"A{d}-{i}", position=i) for i in range(cards_per_deck)]
        )
    return ClassSetup(classroom, course, lesson, made_decks, cards)


def take_test(
    student: User,
    cards: list[Card],
    right: int,
    *,
    scope_type: str = "all",
    scope_id: int | None = None,
    scope_title: str = "All my cards",
    classroom: Classroom | None = None,
    ended_at: datetime | None = None,
) -> StudySession:
    """A completed test with one typed answer per card, the first `right` of
    them right, as session_answer records them (no schedule changes)."""
    now = ended_at or timezone.now()
    session = StudySession.objects.create(
        student=student,
        mode="test",
        scope_type=scope_type,
        scope_id=scope_id,
        scope_title=scope_title,
        classroom=classroom,
        status="completed",
        score=round(100 * right / len(cards), 1),
        cards_total=len(cards),
        answers_count=len(cards),
        started_at=now - timedelta(minutes=5),
        last_activity_at=now,
        ended_at=now,
    )
    Review.objects.bulk_create(
        [
            Review(
                student=student,
                card=card,
                session=session,
                mode="test",
                quality=5 if i < right else 1,
                typed_answer=card.back if i < right else "nope",
                correct=i < right,
                reviewed_at=now - timedelta(seconds=len(cards) - i),
                status_before="new",
                repetitions_before=0,
                interval_before=0,
                ease_before=2.5,
                repetitions_after=0,
                interval_after=0,
                ease_after=2.5,
                changed_schedule=False,
            )
            for i, card in enumerate(cards)
        ]
    )
    return session
