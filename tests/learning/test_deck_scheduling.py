"""Deck scheduling options through the API, the pages and the services; the
class default; switching a deck to FSRS and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from learning import services, study
from learning.models import CardState, Deck
from tests.learning.fsrs_synthetic import simulate
from tests.learning.study_setup import make_class

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def test_deck_payload_carries_the_scheduler_and_its_options(api_for, teacher, student):
    setup = make_class(teacher, [student])
    body = api_for(student).get(f"/api/v1/decks/{setup.decks[0].pk}/").json()
    assert body["scheduler"] == "sm2" and body["desired_retention"] == 0.9
    assert body["learning_steps"] == "1m 10m" and body["relearning_steps"] == "10m"
    assert body["leech_action"] == "tag" and body["maximum_interval"] == 36500


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"desired_retention": 0.6}, "desired_retention"),
        ({"desired_retention": 0.98}, "desired_retention"),
        ({"learning_steps": "1m banana"}, "learning_steps"),
        ({"scheduler": "anki"}, "scheduler"),
        ({"graduating_interval": 5, "easy_interval": 2}, "easy_interval"),
        ({"leech_action": "delete"}, "leech_action"),
    ],
)
def test_bad_options_get_a_clear_error_and_change_nothing(api_for, teacher, change, field):
    setup = make_class(teacher)
    deck = setup.decks[0]
    response = api_for(teacher).patch(f"/api/v1/decks/{deck.pk}/", change, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    fresh = Deck.objects.get(pk=deck.pk)
    assert (fresh.desired_retention, fresh.learning_steps, fresh.scheduler) == (0.9, "1m 10m", "sm2")


def test_teacher_sets_fsrs_with_a_retention_and_steps(api_for, teacher, student):
    setup = make_class(teacher, [student])
    deck = setup.decks[0]
    response = api_for(teacher).patch(
        f"/api/v1/decks/{deck.pk}/",
        {"scheduler": "fsrs", "desired_retention": 0.85, "learning_steps": "30s, 5m 1h"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["learning_steps"] == "30s 5m 1h"
    assert api_for(student).patch(f"/api/v1/decks/{deck.pk}/", {"scheduler": "sm2"}, format="json").status_code == 403


def test_deck_form_page_shows_and_saves_the_options(client_for, teacher):
    setup = make_class(teacher)
    deck = setup.decks[0]
    client = client_for(teacher)
    page = client.get(f"/decks/{deck.pk}/edit/").content.decode()
    assert 'name="scheduler"' in page and 'name="desired_retention"' in page and "1m 10m" in page
    bad = client.post(
        f"/decks/{deck.pk}/edit/",
        {"title": "D", "new_cards_per_day": 20, "reviews_per_day": 200, "learning_steps": "10 minutes"},
    )
    assert bad.status_code == 400 and "is not a step" in bad.content.decode()
    good = client.post(
        f"/decks/{deck.pk}/edit/",
        {
            "title": "D",
            "new_cards_per_day": 20,
            "reviews_per_day": 200,
            "scheduler": "sm2-published",
            "learning_steps": "1m 10m",
            "relearning_steps": "10m",
            "fuzz": "on",
            "leech_action": "suspend",
        },
    )
    assert good.status_code == 302
    deck.refresh_from_db()
    assert (deck.scheduler, deck.leech_action, deck.fuzz) == ("sm2-published", "suspend", True)


def test_new_decks_get_the_class_default_scheduler_from_one_function(teacher, student):
    setup = make_class(teacher)
    services.classroom_update(classroom=setup.classroom, default_scheduler="fsrs")
    deck = services.deck_create(user=teacher, title="New", lesson=setup.lesson)
    assert deck.scheduler == "fsrs"
    assert services.default_scheduler_for(student, None) == "sm2"
    assert services.deck_create(user=student, title="Mine").scheduler == "sm2"
    with pytest.raises(ValidationError):
        services.classroom_update(classroom=setup.classroom, default_scheduler="nope")


def test_switching_to_fsrs_converts_states_from_the_log_or_ease_and_keeps_working_back(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    with_log, without_log = setup.cards
    simulate([student], [with_log], reviews_per_card=4)
    for card in setup.cards:
        CardState.objects.create(
            student=student,
            card=card,
            status="review",
            repetitions=3,
            interval=20,
            ease=2.5,
            due_at=T0,
            last_reviewed_at=T0 - timedelta(days=20),
            reviews_count=4,
        )
    services.deck_update(deck=setup.decks[0], scheduler="fsrs")
    states = {s.card_id: s for s in CardState.objects.all()}
    assert all(s.stability and s.difficulty for s in states.values())
    assert states[without_log.pk].stability == pytest.approx(20, rel=0.01)  # from ease and interval
    assert states[with_log.pk].stability != pytest.approx(20, rel=0.01)  # replayed from the log
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="review", now=T0)
    result = study.session_answer(student=student, session_id=session.pk, card_id=without_log.pk, quality=4, now=T0)
    assert result.review.stability_after > 20 and result.recall == pytest.approx(0.9, abs=0.01)
    services.deck_update(deck=Deck.objects.get(), scheduler="sm2")
    back = study.session_answer(student=student, session_id=session.pk, card_id=with_log.pk, quality=4, now=T0)
    assert back.review.interval_after > 20


def test_deck_page_says_how_it_is_scheduled(client_for, teacher, student):
    setup = make_class(teacher, [student], scheduler="fsrs")
    page = client_for(student).get(f"/decks/{setup.decks[0].pk}/").content.decode()
    assert "FSRS-6 (memory model)" in page and "aiming at 0.90 recall" in page
    assert "Change</a>" not in page
    assert "Change</a>" in client_for(teacher).get(f"/decks/{setup.decks[0].pk}/").content.decode()
