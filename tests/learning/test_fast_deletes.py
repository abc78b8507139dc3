"""Deleting an account, a deck or a card deletes the study rows below it in
one statement per table: no row is loaded, whatever their number (an account
with 50,000 reviews took seconds when each was loaded and signalled). Reviews
outlive their card (history), sessions go with their student, and the rows
deleted by themselves (Undo, the admin, the weekly clean-up) still make the
cached figures read again."""

from __future__ import annotations

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from learning import progress, services, study
from learning.models import Card, CardState, Review, StudySession
from tests.factories import UserFactory
from tests.learning.study_setup import make_class


def answer_all(student, scope_id: int) -> StudySession:
    session = study.session_start(student=student, scope_type="classroom", scope_id=scope_id, mode="learn")
    for card_id in session.queue:
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=5)
    return session


def pad_reviews(student, copies: int) -> None:
    """Add history cheaply: copies of the student's first review."""
    first = Review.objects.filter(student=student).first()
    rows = []
    for _ in range(copies):
        row = Review.objects.get(pk=first.pk)
        row.pk = None
        rows.append(row)
    Review.objects.bulk_create(rows)


def statements(action) -> list[str]:
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        action()
    return [q["sql"] for q in captured.captured_queries]


def account_deletion_statements(teacher, name: str, padding: int) -> list[str]:
    student = UserFactory(username=name, role="student")
    setup = make_class(teacher, [student], name=name, cards_per_deck=4)
    answer_all(student, setup.classroom.pk)
    pad_reviews(student, padding)
    found = statements(student.delete)
    assert not Review.objects.filter(student_id=student.pk).exists()
    assert not CardState.objects.filter(student_id=student.pk).exists()
    assert not StudySession.objects.filter(student_id=student.pk).exists()
    return found


def test_an_accounts_study_rows_go_in_a_fixed_number_of_statements(teacher):
    few = account_deletion_statements(teacher, "few", padding=2)
    many = account_deletion_statements(teacher, "many", padding=200)
    assert len(few) == len(many)
    deletes = [sql for sql in many if sql.startswith("DELETE") and "learning_review" in sql.split("WHERE")[0]]
    assert len(deletes) == 1  # one statement, no row loaded
    assert not any(sql.startswith("SELECT") and 'FROM "learning_review"' in sql for sql in many)


def test_a_decks_deletion_keeps_history_and_does_not_load_it(teacher, student):
    setup = make_class(teacher, [student], decks=2, cards_per_deck=3)
    answer_all(student, setup.classroom.pk)
    before = Review.objects.filter(student=student).count()
    pad_reviews(student, 50)
    deck = setup.decks[0]
    deck_id = deck.pk
    found = statements(lambda: services.deck_delete(deck=deck))
    assert not any('FROM "learning_review"' in sql and sql.startswith("SELECT") for sql in found)
    assert not any('FROM "learning_cardstate"' in sql and sql.startswith("SELECT") for sql in found)
    assert Review.objects.filter(student=student).count() == before + 50  # history stays, card unset
    assert Review.objects.filter(student=student, card=None).count() >= 3
    assert not CardState.objects.filter(card__deck_id=deck_id).exists()


@pytest.mark.django_db(transaction=True)
def test_rows_deleted_by_themselves_make_the_cached_figures_read_again(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=3)
    answer_all(student, setup.classroom.pk)
    cached = progress.cached_class_progress(setup.classroom)
    assert progress.class_progress_dict(cached)["students"][0]["studied"] == 3

    CardState.objects.filter(student=student, card=setup.cards[0]).delete()  # as the admin's bulk action does
    live = progress.class_progress(setup.classroom)
    assert progress.class_progress_dict(progress.cached_class_progress(setup.classroom)) == (
        progress.class_progress_dict(live)
    )
    assert progress.class_progress_dict(live)["students"][0]["studied"] == 2

    Review.objects.filter(student=student).first().delete()  # one row: the model's own delete
    assert progress.class_progress_dict(progress.cached_class_progress(setup.classroom)) == (
        progress.class_progress_dict(progress.class_progress(setup.classroom))
    )


def test_a_card_deleted_keeps_its_reviews(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    answer_all(student, setup.classroom.pk)
    card = setup.cards[0]
    services.card_delete(card=Card.objects.get(pk=card.pk))
    assert Review.objects.filter(student=student, card=None).exists()
    assert Review.objects.filter(student=student).count() == 2


def test_a_decks_deletion_takes_a_statement_per_table_and_signals_twice(teacher, student, monkeypatch):
    from django.db.models.signals import post_delete

    setup = make_class(teacher, [student], decks=1, cards_per_deck=30)
    deck = setup.decks[0]
    bumps = []
    monkeypatch.setattr(progress.cache, "set", lambda key, *a, **k: bumps.append(key))
    assert post_delete._live_receivers(Card) == ([], [])  # none per card
    found = statements(lambda: services.deck_delete(deck=deck))
    card_reads = [sql for sql in found if sql.startswith("SELECT") and 'FROM "learning_card"' in sql]
    assert not any('"learning_card"."front"' in sql for sql in card_reads)  # never the cards themselves
    deletes = [sql for sql in found if sql.startswith(("DELETE", "UPDATE"))]
    assert len(deletes) <= 6 and not any(re.search(r"IN \(\d+, \d+", sql) for sql in deletes)  # by subquery
    assert not Card.objects.filter(deck_id=deck.pk).exists()
    assert bumps.count(progress.CONTENT_KEY) == 2  # once for the cards, once for the deck: not once per card


@pytest.mark.django_db(transaction=True)
def test_cards_deleted_by_themselves_or_with_their_deck_make_dashboards_read_again(teacher, student):
    setup = make_class(teacher, [student], decks=2, cards_per_deck=3)
    answer_all(student, setup.classroom.pk)

    def figures(dashboard) -> list:
        return [(d.deck.pk, d.total, d.studied, d.due) for d in dashboard.decks] + [dashboard.due_today]

    def fresh() -> bool:
        return figures(progress.cached_student_dashboard(student)) == figures(progress.student_dashboard(student))

    assert figures(progress.cached_student_dashboard(student))[0][1] == 3
    Card.objects.filter(pk=setup.cards[0].pk).delete()  # a selection, as the admin deletes it
    assert fresh()
    Card.objects.get(pk=setup.cards[1].pk).delete()  # one card
    assert fresh()
    services.deck_delete(deck=setup.decks[1])  # a deck, and its cards with it
    assert fresh()


def test_a_selection_of_cards_by_their_schedules_deletes_those_cards(teacher, student):
    # The selection reads learning_cardstate, which the deletion empties
    # first: it is read once, before, so the right cards still go.
    setup = make_class(teacher, [student], cards_per_deck=4)
    session = study.session_start(student=student, scope_type="classroom", scope_id=setup.classroom.pk, mode="learn")
    for card_id in session.queue[:2]:
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=5)
    studied = set(CardState.objects.filter(student=student).values_list("card_id", flat=True))
    count, by_model = Card.objects.filter(states__student=student).delete()
    assert by_model["learning.Card"] == 2 and not Card.objects.filter(pk__in=studied).exists()
    assert Card.objects.filter(deck__in=setup.decks).count() == 2
    assert Review.objects.filter(student=student, card=None).count() == 2  # history kept
    assert count == 2 + by_model.get("learning.CardState", 0) + by_model.get("learning.Card_media", 0)
