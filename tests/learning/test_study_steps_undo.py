"""Learning steps inside a session, the day start, Anki-style counts, undo and leeches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from learning import study
from learning.models import Card, CardState, Deck, Review, StudySession
from lms.errors import Conflict
from tests.learning.fsrs_synthetic import counted_review
from tests.learning.study_setup import make_class

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def answer(student, session, card_id, quality, now):
    return study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=quality, now=now)


def next_card(student, session, now):
    session.refresh_from_db()
    return study.session_next(student=student, session=session, now=now)


def learn(teacher, student, cards=3, **kw):
    setup = make_class(teacher, [student], cards_per_deck=cards, **kw)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=T0)
    return setup, session


def test_a_learning_card_comes_back_when_its_step_is_due_before_the_next_new_card(teacher, student):
    setup, session = learn(teacher, student)
    a, b, _ = setup.cards
    answer(student, session, a.pk, 1, T0)  # Again: first step, 1 minute
    nxt = next_card(student, session, T0 + 10 * timedelta(seconds=1))
    assert nxt.card == b  # a's step is not due yet: the next new card
    assert nxt.counts.as_dict() == {"new": 2, "learning": 1, "due": 0}
    nxt = next_card(student, session, T0 + 2 * MIN)
    assert nxt.card == a and nxt.memory.state == "learning"
    assert nxt.previews == {1: "<1m", 3: "<6m", 4: "<10m", 5: "4d"}


def test_learn_ahead_shows_a_learning_card_early_only_within_twenty_minutes(teacher, student):
    setup, session = learn(teacher, student, cards=1, scheduler="sm2")
    card = setup.cards[0]
    deck = setup.decks[0]
    Deck.objects.filter(pk=deck.pk).update(learning_steps="30m 1h")
    answer(student, session, card.pk, 4, T0)  # to the 1h step
    assert next_card(student, session, T0 + 30 * MIN) is None  # an hour away: the session ends
    session.refresh_from_db()
    assert session.status == StudySession.Status.COMPLETED and session.learning_ids == [card.pk]

    setup2, session2 = learn(teacher, student, cards=1)
    card2 = setup2.cards[0]
    answer(student, session2, card2.pk, 4, T0)  # to the 10m step
    nxt = next_card(student, session2, T0 + MIN)
    assert nxt.card == card2  # nothing else left: shown nine minutes early


def test_every_step_answer_counts_and_the_card_graduates(teacher, student):
    setup, session = learn(teacher, student, cards=1)
    card = setup.cards[0]
    first = answer(student, session, card.pk, 4, T0)
    assert first.review.changed_schedule and first.review.status_after == "learning"
    second = answer(student, session, card.pk, 4, T0 + 10 * MIN)
    assert second.review.changed_schedule and second.done
    state = CardState.objects.get(student=student, card=card)
    assert (state.status, state.interval, state.reviews_count) == ("review", 1, 2)
    assert state.due_at == T0 + 10 * MIN + timedelta(days=1)


def test_new_limit_counts_cards_not_step_answers(teacher, student):
    setup, session = learn(teacher, student, cards=4, new_per_day=2)
    a, b = session.queue
    for card_id in (a, b):
        answer(student, session, card_id, 1, T0)
    answer(student, session, a, 1, T0 + 2 * MIN)
    assert study.studied_today_by_deck(student, T0)[setup.decks[0].pk] == (2, 0)


@override_settings(STUDY_DAY_START_HOUR=4)
def test_the_study_day_starts_at_four_in_the_students_zone(student):
    # Berlin is UTC+1 in March: 02:30 UTC is 03:30 there, still "yesterday".
    assert study.study_day(student, datetime(2026, 3, 10, 2, 30, tzinfo=UTC)).day == 9
    assert study.study_day(student, datetime(2026, 3, 10, 3, 30, tzinfo=UTC)).day == 10
    start, end = study.local_day_bounds(student, datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    assert start == datetime(2026, 3, 10, 3, 0, tzinfo=UTC) and end - start == timedelta(days=1)


def state_row(student, card):
    return CardState.objects.filter(student=student, card=card).values().first()


def session_row(session):
    return StudySession.objects.filter(pk=session.pk).values().first()


def test_undo_restores_state_review_rows_and_counts_exactly_once(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    card = setup.cards[0]
    CardState.objects.create(
        student=student,
        card=card,
        status="review",
        repetitions=5,
        interval=180,
        ease=2.3,
        lapses=1,
        reviews_count=9,
        due_at=T0,
        last_reviewed_at=T0 - timedelta(days=180),
    )
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="review", now=T0)
    before_state, before_session = state_row(student, card), session_row(session)
    counts_before = study.session_counts(StudySession.objects.get(pk=session.pk))

    result = answer(student, session, card.pk, 1, T0 + MIN)  # the mistaken "1" on a six-month card
    assert result.review.status_after == "relearning"
    assert state_row(student, card)["lapses"] == 2
    undone = study.session_undo(student=student, session_id=session.pk, now=T0 + 2 * MIN)
    assert undone.card_id == card.pk and undone.quality == 1
    assert state_row(student, card) == before_state
    assert session_row(session) == before_session
    assert not Review.objects.exists()
    assert study.session_counts(undone.session) == counts_before
    assert next_card(student, session, T0 + 2 * MIN).card == card

    with pytest.raises(Conflict) as refused:
        study.session_undo(student=student, session_id=session.pk, now=T0 + 3 * MIN)
    assert refused.value.code == "nothing_to_undo"
    assert state_row(student, card) == before_state and session_row(session) == before_session


def test_undo_of_a_first_answer_removes_the_new_state_and_reopens_a_finished_session(teacher, student):
    setup, session = learn(teacher, student, cards=1)
    card = setup.cards[0]
    before_session = session_row(session)
    done = answer(student, session, card.pk, 5, T0)
    assert done.done
    study.session_undo(student=student, session_id=session.pk, now=T0 + MIN)
    assert not CardState.objects.exists() and not Review.objects.exists()
    assert session_row(session) == before_session  # active again, the card back in the queue


def test_undo_after_the_student_ended_the_session_is_refused(teacher, student):
    setup, session = learn(teacher, student, cards=2)
    answer(student, session, setup.cards[0].pk, 5, T0)
    study.session_end(student=student, session_id=session.pk, now=T0 + MIN)
    with pytest.raises(Conflict):
        study.session_undo(student=student, session_id=session.pk, now=T0 + 2 * MIN)
    assert Review.objects.count() == 1


def test_someone_elses_session_cannot_be_undone(teacher, student, outsider):
    setup, session = learn(teacher, student, cards=2)
    answer(student, session, setup.cards[0].pk, 5, T0)
    from django.http import Http404

    with pytest.raises(Http404):
        study.session_undo(student=outsider, session_id=session.pk)


@pytest.mark.parametrize(("action", "suspended"), [("tag", False), ("suspend", True)])
def test_a_card_reaching_8_lapses_is_tagged_leech_and_suspended_per_deck_option(teacher, student, action, suspended):
    setup = make_class(teacher, [student], cards_per_deck=1)
    Deck.objects.filter(pk=setup.decks[0].pk).update(leech_action=action)
    card = setup.cards[0]
    CardState.objects.create(
        student=student, card=card, status="review", repetitions=3, interval=10, due_at=T0, lapses=7
    )
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="review", now=T0)
    result = answer(student, session, card.pk, 1, T0)
    state = CardState.objects.get()
    assert state.lapses == 8 and state.suspended is suspended
    assert "leech" in Card.objects.get().tag_list
    session.refresh_from_db()
    assert (card.pk in session.learning_ids) is not suspended
    assert result.done is suspended
    # Undo takes the tag (and the suspension) back too.
    study.session_undo(student=student, session_id=session.pk, now=T0)
    assert "leech" not in Card.objects.get().tag_list
    assert CardState.objects.get().suspended is False


def test_suspended_cards_stay_out_of_reviews(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    a, b = setup.cards
    CardState.objects.create(
        student=student, card=a, status="review", repetitions=3, interval=10, due_at=T0, suspended=True
    )
    CardState.objects.create(student=student, card=b, status="review", repetitions=3, interval=10, due_at=T0)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="review", now=T0)
    assert session.queue == [b.pk]


def test_review_mode_puts_cards_in_steps_under_learning(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    a, b = setup.cards
    CardState.objects.create(student=student, card=a, status="learning", step=1, due_at=T0 - MIN, reviews_count=1)
    CardState.objects.create(student=student, card=b, status="review", repetitions=3, interval=10, due_at=T0)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="review", now=T0)
    assert (session.queue, session.learning_ids) == ([b.pk], [a.pk])
    assert study.session_counts(session).as_dict() == {"new": 0, "learning": 1, "due": 1}
    assert next_card(student, session, T0).card == a  # its step is due: before the review card


def test_summary_has_answers_by_button_and_time_per_card(teacher, student):
    setup, session = learn(teacher, student, cards=2)
    a, b = setup.cards
    study.session_answer(student=student, session_id=session.pk, card_id=a.pk, quality=5, response_ms=3000, now=T0)
    study.session_answer(
        student=student,
        session_id=session.pk,
        card_id=b.pk,
        quality=1,
        response_ms=5000,
        now=T0 + timedelta(seconds=20),
    )
    study.session_answer(
        student=student, session_id=session.pk, card_id=b.pk, quality=4, response_ms=2000, now=T0 + 2 * MIN
    )
    session.refresh_from_db()
    summary = study.session_summary(student=student, session=session, now=T0 + 3 * MIN)
    assert summary.by_button == [("Again", 1), ("Hard", 0), ("Good", 1), ("Easy", 1)]
    assert summary.seconds_per_card == pytest.approx(60.0)  # two minutes, two cards
    assert summary.answer_seconds == pytest.approx(10 / 3)


@override_settings(STUDY_DAY_START_HOUR=4)
def test_a_review_at_2_am_counts_for_the_day_before_in_streaks_and_today(teacher, student):
    from learning import progress

    setup = make_class(teacher, [student], cards_per_deck=2)
    berlin_evening = datetime(2026, 3, 9, 19, 0, tzinfo=UTC)  # 20:00 in Berlin, Monday
    after_midnight = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # 02:00 in Berlin, still Monday's study day
    for card, at in zip(setup.cards, (berlin_evening, after_midnight), strict=True):
        counted_review(student, card, at, 4, mode="learn", status_before="new").save()
    data = progress.student_dashboard(student, now=after_midnight)
    assert data.today.day == 9 and data.reviews_today == 2
    assert (data.current_streak, data.longest_streak) == (1, 1)


def test_edit_from_the_study_screen_returns_to_the_same_card(client_for, teacher, student):
    setup = make_class(teacher, [teacher, student], cards_per_deck=2)
    session = study.session_start(student=teacher, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    client = client_for(teacher)
    # The card partial after an htmx answer carries the edit link too.
    partial = client.post(
        f"/study/sessions/{session.pk}/answer/",
        {"card": setup.cards[0].pk, "quality": "5", "idempotency_key": "e1"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    back = f"/study/sessions/{session.pk}/"
    assert f"/cards/{setup.cards[1].pk}/edit/?next=%2Fstudy%2Fsessions%2F{session.pk}%2F" in partial
    saved = client.post(
        f"/cards/{setup.cards[1].pk}/edit/", {"front": "Q edited", "back": "A0-1", "tags": "", "next": back}
    )
    assert saved.status_code == 302 and saved["Location"] == back
    assert "Q edited" in client.get(back).content.decode()
    # A student may not edit the class's cards: no edit link for them.
    other = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    assert "/edit/?next=" not in client_for(student).get(f"/study/sessions/{other.pk}/").content.decode()
