"""Deleting a student's account and a deck with their study history, against
the same rows deleted by plain SQL statements in the same run (the least any
deletion can do), as a ratio.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms_bench python -m bench.deletion_bench

A student with BENCH_DELETE_REVIEWS reviews (default 50,000), a schedule for
each of BENCH_DELETE_CARDS cards (default 2,000) and 200 sessions is built
twice per round: one copy is deleted as the application does (`user.delete()`:
signals, cascades, cache invalidation), the other by five DELETE statements.
Then a deck of those cards with every student's schedules and reviews: the
service `deck_delete` (media, cascades, reviews kept with their card unset)
against the UPDATE and DELETE statements that do the same. Best of
BENCH_ROUNDS (default 3), the two alternating. It replaces the `benchdel_*`
users and their rows in the database it is pointed at: never production.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from learning import services  # noqa: E402
from learning.models import Card, CardState, Classroom, Course, Deck, Enrollment, Lesson, Review, StudySession  # noqa: E402
from lms.models import User  # noqa: E402

REVIEWS = int(os.getenv("BENCH_DELETE_REVIEWS", "50000"))
CARDS = int(os.getenv("BENCH_DELETE_CARDS", "2000"))
SESSIONS = 200
ROUNDS = int(os.getenv("BENCH_ROUNDS", "3"))
PREFIX = "benchdel_"


def build(name: str, teacher: User) -> tuple[User, Deck]:
    """A class with one deck of CARDS cards, and a student who studied it for a long time."""
    now = timezone.now()
    student = User.objects.create(username=f"{PREFIX}{name}", role=User.Role.STUDENT)
    classroom = Classroom.objects.create(name=f"{PREFIX}{name}", teacher=teacher)
    Enrollment.objects.create(classroom=classroom, student=student)
    course = Course.objects.create(classroom=classroom, title="Course")
    lesson = Lesson.objects.create(course=course, title="Lesson", published=True)
    deck = Deck.objects.create(title="Deck", owner=teacher, lesson=lesson)
    cards = Card.objects.bulk_create([Card(deck=deck, front=f"Q{i}", back=f"A{i}", position=i) for i in range(CARDS)])
    CardState.objects.bulk_create(
        [CardState(student=student, card=card, due_at=now + timedelta(days=i % 30)) for i, card in enumerate(cards)],
        batch_size=2000,
    )
    sessions = StudySession.objects.bulk_create(
        [
            StudySession(
                student=student,
                mode="review",
                scope_type="deck",
                scope_id=deck.pk,
                status=StudySession.Status.COMPLETED,
                started_at=now,
                last_activity_at=now,
            )
            for _ in range(SESSIONS)
        ]
    )
    reviews = [
        Review(
            student=student,
            card=cards[i % CARDS],
            session=sessions[i % SESSIONS],
            mode="review",
            quality=4,
            correct=True,
            reviewed_at=now - timedelta(minutes=i),
            status_before="review",
            repetitions_before=1,
            interval_before=1,
            ease_before=2.5,
            repetitions_after=2,
            interval_after=3,
            ease_after=2.5,
            changed_schedule=True,
        )
        for i in range(REVIEWS)
    ]
    Review.objects.bulk_create(reviews, batch_size=5000)
    StudySession.objects.filter(pk=sessions[-1].pk).update(undo_review=Review.objects.filter(student=student).last())
    return student, deck


def sql_account(student: User) -> None:
    with connection.cursor() as cursor:
        for table in ("learning_review", "learning_cardstate", "learning_studysession", "learning_enrollment"):
            cursor.execute(f"DELETE FROM {table} WHERE student_id = %s", [student.pk])
        cursor.execute("DELETE FROM lms_user WHERE id = %s", [student.pk])


def sql_deck(deck: Deck) -> None:
    cards = "SELECT id FROM learning_card WHERE deck_id = %s"
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE learning_review SET card_id = NULL WHERE card_id IN ({cards})", [deck.pk])
        cursor.execute(f"DELETE FROM learning_cardstate WHERE card_id IN ({cards})", [deck.pk])
        cursor.execute("DELETE FROM learning_card WHERE deck_id = %s", [deck.pk])
        cursor.execute("DELETE FROM learning_deck WHERE id = %s", [deck.pk])


def timed(action: Callable[[], object]) -> tuple[float, int]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        with transaction.atomic():
            action()
        elapsed = time.perf_counter() - started
    return elapsed, len(queries.captured_queries)


def main() -> int:
    if connection.vendor != "postgresql":
        print("Point DATABASE_URL at a PostgreSQL database (not production).", file=sys.stderr)
        return 2
    User.objects.filter(username__startswith=PREFIX).delete()
    teacher = User.objects.create(username=f"{PREFIX}teacher", role=User.Role.TEACHER)
    best: dict[str, tuple[float, int]] = {}
    for round_number in range(ROUNDS):
        for label, delete_account, delete_deck in (
            ("application", lambda s: s.delete(), lambda d: services.deck_delete(deck=d)),
            ("plain SQL", sql_account, sql_deck),
        ):
            student, deck = build(f"{label[:3]}{round_number}a", teacher)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE learning_review; ANALYZE learning_cardstate")
            account = timed(lambda s=student, f=delete_account: f(s))
            _, deck = build(f"{label[:3]}{round_number}d", teacher)
            deck_time = timed(lambda d=deck, f=delete_deck: f(d))
            for kind, figure in ((f"account {label}", account), (f"deck {label}", deck_time)):
                if kind not in best or figure[0] < best[kind][0]:
                    best[kind] = figure
        print(f"round {round_number + 1} of {ROUNDS} done", flush=True)
    User.objects.filter(username__startswith=PREFIX).delete()
    print(f"\n{REVIEWS:,} reviews, {CARDS:,} schedules and {SESSIONS} sessions; best of {ROUNDS}")
    print(f"{'what':<34}{'seconds':>10}{'statements':>12}{'ratio':>8}")
    for what in ("account", "deck"):
        ours, reference = best[f"{what} application"], best[f"{what} plain SQL"]
        print(f"{what + ' deletion, application':<34}{ours[0]:>10.3f}{ours[1]:>12}{ours[0] / reference[0]:>8.2f}")
        print(f"{what + ' deletion, plain SQL':<34}{reference[0]:>10.3f}{reference[1]:>12}{1:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
