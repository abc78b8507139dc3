"""Migration 0007 maps today's card states to the scheduler-state representation
with nothing lost (run on a database holding states and reviews made before it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("learning", "0005_perf_class_progress_indexes")]
AFTER = [("learning", "0007_map_card_states")]
T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def state_values(row) -> tuple:
    return (
        row.repetitions,
        row.interval,
        row.ease,
        row.due_at,
        row.lapses,
        row.reviews_count,
        row.last_reviewed_at,
    )


@pytest.mark.django_db(transaction=True)
def test_old_states_become_review_cards_with_every_figure_kept_and_back_again():
    apps = migrate(BEFORE)
    User = apps.get_model("lms", "User")
    Classroom = apps.get_model("learning", "Classroom")
    Course = apps.get_model("learning", "Course")
    Lesson = apps.get_model("learning", "Lesson")
    Deck = apps.get_model("learning", "Deck")
    Card = apps.get_model("learning", "Card")
    CardState = apps.get_model("learning", "CardState")
    Review = apps.get_model("learning", "Review")
    teacher = User.objects.create(username="mig-teacher", role="teacher")
    student = User.objects.create(username="mig-student", role="student")
    classroom = Classroom.objects.create(name="C", teacher=teacher, join_code="MIGRATE1")
    lesson = Lesson.objects.create(course=Course.objects.create(classroom=classroom, title="c"), title="l")
    deck = Deck.objects.create(title="d", owner=teacher, lesson=lesson)
    cards = [Card.objects.create(deck=deck, front=f"q{i}", back="a") for i in range(3)]
    rows = [
        ("learning", 1, 1, 2.36, 0),  # answered once
        ("learning", 0, 1, 1.7, 2),  # failed after being learnt
        ("review", 4, 38, 2.5, 1),
    ]
    for card, (status, reps, interval, ease, lapses) in zip(cards, rows, strict=True):
        CardState.objects.create(
            student=student,
            card=card,
            status=status,
            repetitions=reps,
            interval=interval,
            ease=ease,
            lapses=lapses,
            reviews_count=reps + lapses + 1,
            due_at=T0 + timedelta(days=interval),
            last_reviewed_at=T0,
        )
        Review.objects.create(
            student=student,
            card=card,
            mode="review",
            quality=4,
            correct=True,
            reviewed_at=T0,
            status_before=status,
            repetitions_before=max(0, reps - 1),
            interval_before=interval,
            ease_before=ease,
            repetitions_after=reps,
            interval_after=interval,
            ease_after=ease,
            changed_schedule=True,
        )
    before = {s.card_id: state_values(s) for s in CardState.objects.all()}
    reviews_before = list(Review.objects.order_by("id").values_list("id", "quality", "reviewed_at", "interval_after"))

    try:
        apps = migrate(AFTER)
        CardState = apps.get_model("learning", "CardState")
        Review = apps.get_model("learning", "Review")
        Deck = apps.get_model("learning", "Deck")
        after = {s.card_id: s for s in CardState.objects.all()}
        assert {s.status for s in after.values()} == {"review"}
        assert {s.step for s in after.values()} == {0}
        assert {s.stability for s in after.values()} == {None}
        assert {c: state_values(s) for c, s in after.items()} == before
        assert set(Review.objects.values_list("status_before", flat=True)) == {"review"}
        assert list(Review.objects.order_by("id").values_list("id", "quality", "reviewed_at", "interval_after")) == (
            reviews_before
        )
        assert Deck.objects.get().scheduler == "sm2"

        apps = migrate(BEFORE)
        CardState = apps.get_model("learning", "CardState")
        Review = apps.get_model("learning", "Review")
        back = {s.card_id: s for s in CardState.objects.all()}
        assert [back[c.pk].status for c in cards] == ["learning", "learning", "review"]
        assert {c: state_values(s) for c, s in back.items()} == before
        assert list(Review.objects.order_by("id").values_list("status_before", flat=True)) == [
            "learning",
            "learning",
            "review",
        ]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
