"""Builders for study tests: a class with a published lesson and decks of cards."""

from __future__ import annotations

from dataclasses import dataclass

from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson
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
