"""Study metrics read from learning's study models."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from analytics import queries
from learning.models import Card, Deck
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _model(name: str) -> Any:
    return apps.get_model("learning", name)


def _create(model: Any, **values: Any) -> Any:
    """Only the fields the model has, so a renamed optional field does not break this test."""
    names = {f.name for f in model._meta.get_fields()}
    return model.objects.create(**{k: v for k, v in values.items() if k in names})


def test_study_by_mode_and_learning_progress_from_learning_models() -> None:
    study_session, card_state, review = _model("StudySession"), _model("CardState"), _model("Review")
    now = timezone.now()
    owner, ann, bob = UserFactory(role="teacher"), UserFactory(), UserFactory()
    deck = Deck.objects.create(title="Verbs", owner=owner)
    cards = [Card.objects.create(deck=deck, front=f"f{i}", back=f"b{i}") for i in range(3)]
    for student, mode, status, seconds, answers in [
        (ann, "learn", "completed", 300, 10),
        (ann, "learn", "abandoned", 100, 2),
        (bob, "test", "completed", 600, 20),
    ]:
        _create(
            study_session,
            student=student,
            mode=mode,
            scope_type="deck",
            scope_id=deck.pk,
            status=status,
            duration_seconds=seconds,
            answers_count=answers,
            started_at=now - timedelta(hours=1),
            last_activity_at=now,
        )
    schedule = {
        "repetitions_before": 0,
        "interval_before": 0,
        "ease_before": 2.5,
        "repetitions_after": 1,
        "interval_after": 1,
        "ease_after": 2.6,
        "changed_schedule": True,
        "status_before": "new",
    }
    # ann: card 0 learned (ease 2.6, a correct review); card 1 ease 2.6 but never answered correctly;
    # card 2 answered correctly but ease fell to 2.2.
    for card, ease, correct in [(cards[0], 2.6, True), (cards[1], 2.6, False), (cards[2], 2.2, True)]:
        _create(
            card_state, student=ann, card=card, ease=ease, repetitions=1 if correct else 0, due_at=now, reviews_count=1
        )
        _create(
            review,
            student=ann,
            card=card,
            mode="learn",
            quality=4 if correct else 1,
            correct=correct,
            reviewed_at=now,
            **schedule,
        )
    metrics = queries.study_metrics(7)
    assert metrics["source"] == "learning"
    by_mode = {row["mode"]: row for row in metrics["by_mode"]}
    assert by_mode["learn"]["sessions"] == 2
    assert by_mode["learn"]["completion_rate"] == 0.5
    assert by_mode["learn"]["avg_duration"] == 200
    assert by_mode["test"]["avg_cards"] == 20
    assert metrics["cards_learned"] == 1
    assert metrics["avg_ease"] == pytest.approx((2.6 + 2.6 + 2.2) / 3, abs=0.001)
    assert metrics["reviews"] == 3
    assert metrics["reviews_per_user"] == 3
