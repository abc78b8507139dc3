"""Real threads on PostgreSQL: simultaneous answers never corrupt a card's state."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from learning import srs, study
from learning.models import CardState, Review, StudySession
from lms.errors import ServiceError
from tests.learning.study_setup import make_class
from tests.threads import run_together

pytestmark = pytest.mark.postgres


def open_session(student, card, mode="review", scope="all"):
    now = timezone.now()
    return StudySession.objects.create(
        student=student,
        mode=mode,
        scope_type=scope,
        scope_id=card.deck_id if scope == "deck" else None,
        queue=[card.pk],
        cards_total=1,
        started_at=now,
        last_activity_at=now,
    )


@pytest.mark.parametrize("known", [True, False], ids=["known-card", "new-card"])
def test_two_sessions_answering_the_same_card_at_once_apply_both_answers_in_turn(
    transactional_db, teacher, student, known
):
    # SM-2 as published: the expected schedule is srs.sm2 applied twice.
    setup = make_class(teacher, [student], cards_per_deck=1, scheduler="sm2-published")
    card = setup.cards[0]
    if known:
        CardState.objects.create(
            student=student,
            card=card,
            status="review",
            repetitions=2,
            interval=6,
            ease=2.5,
            due_at=timezone.now() - timedelta(days=1),
        )
    mode = "review" if known else "learn"
    # Two tabs: two sessions holding the same card (on two scopes: the database
    # allows one active session per mode and scope).
    first, second = open_session(student, card, mode), open_session(student, card, mode, scope="deck")
    results = run_together(
        lambda: study.session_answer(student=student, session_id=first.pk, card_id=card.pk, quality=5),
        lambda: study.session_answer(student=student, session_id=second.pk, card_id=card.pk, quality=3),
    )
    assert all(not isinstance(r, Exception) for r in results), results

    reviews = list(Review.objects.filter(card=card).order_by("id"))
    assert len(reviews) == 2 and all(r.changed_schedule for r in reviews)
    # Serialised: the second answer saw the first one's result.
    assert (reviews[1].repetitions_before, reviews[1].interval_before, reviews[1].ease_before) == (
        reviews[0].repetitions_after,
        reviews[0].interval_after,
        reviews[0].ease_after,
    )
    start = srs.Schedule(2, 6, 2.5) if known else srs.NEW
    expected = srs.sm2(srs.sm2(start, reviews[0].quality), reviews[1].quality)
    state = CardState.objects.get(student=student, card=card)
    assert srs.Schedule(state.repetitions, state.interval, state.ease) == expected
    assert state.reviews_count == 2


def test_the_same_idempotency_key_from_two_threads_records_one_review(transactional_db, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    card_id = session.queue[0]

    def answer():
        return study.session_answer(
            student=student, session_id=session.pk, card_id=card_id, quality=4, idempotency_key="same-key"
        )

    results = run_together(answer, answer, answer)
    assert all(not isinstance(r, Exception) for r in results), results
    assert Review.objects.count() == 1
    assert len({r.review.pk for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False, True, True]
    state = CardState.objects.get()
    assert (state.status, state.step, state.reviews_count) == ("learning", 1, 1)  # Good: the 10-minute step
    session.refresh_from_db()
    assert session.answers_count == 1 and session.queue == [setup.cards[1].pk]
    assert session.learning_ids == [card_id]


def test_double_submit_with_different_keys_in_one_session_answers_once(transactional_db, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    card_id = session.queue[0]
    results = run_together(
        *[
            (
                lambda k=k: study.session_answer(
                    student=student, session_id=session.pk, card_id=card_id, quality=5, idempotency_key=f"k{k}"
                )
            )
            for k in range(4)
        ]
    )
    ok = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(ok) == 1 and len(refused) == 3  # the card had left the queue
    assert Review.objects.count() == 1
    assert CardState.objects.get().reviews_count == 1


def test_due_cards_query_is_one_scan_of_the_student_due_index(db, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=3)
    for card in setup.cards:
        CardState.objects.create(student=student, card=card, due_at=timezone.now())
    qs = CardState.objects.due_for(student, timezone.now()).values_list("card_id", flat=True)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = qs.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "cardstate_student_due" in plan, plan
    assert "Sort" not in plan, plan  # the index order is the queue order


def test_undo_racing_an_answer_leaves_exactly_one_of_them(transactional_db, teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=3)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    a, b, _ = setup.cards
    study.session_answer(student=student, session_id=session.pk, card_id=a.pk, quality=5)
    results = run_together(
        lambda: study.session_undo(student=student, session_id=session.pk),
        lambda: study.session_answer(student=student, session_id=session.pk, card_id=b.pk, quality=5),
    )
    assert all(not isinstance(r, Exception) for r in results), results
    session.refresh_from_db()
    # Serialised by the session lock: whichever ran second saw the first.
    assert Review.objects.count() == 1 and session.answers_count == 1
    assert CardState.objects.count() == 1
    assert set(session.answered_ids) == set(Review.objects.values_list("card_id", flat=True))


def test_twenty_simultaneous_starts_leave_exactly_one_active_session(transactional_db, teacher, student):
    """Issue #13: 20 simultaneous learn-mode starts once left two active sessions
    handing out the same new cards. Round after round, exactly one survives, and
    every caller gets a session (the winner's, when it lost the race)."""
    setup = make_class(teacher, [student], cards_per_deck=30, new_per_day=100)
    deck = setup.decks[0]
    for _round in range(6):
        results = run_together(
            *[
                lambda: study.session_start(student=student, scope_type="deck", scope_id=deck.pk, mode="learn")
                for _ in range(20)
            ]
        )
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, errors
        active = StudySession.objects.filter(student=student, mode="learn", status="active")
        assert active.count() == 1
        assert active.get().pk in {r.pk for r in results}


def test_a_lost_start_race_returns_the_winning_session(transactional_db, teacher, student, monkeypatch):
    """The service side of the constraint, made deterministic: another request
    commits its session while ours is building its queue."""
    setup = make_class(teacher, [student], cards_per_deck=3)
    deck = setup.decks[0]
    real_learn_queue = study.learn_queue
    winner = {}

    def learn_queue_while_another_start_commits(*args, **kwargs):
        # Another connection (another request) inserts and commits first.
        winner["session"] = run_together(lambda: open_session(student, setup.cards[0], "learn", scope="deck"))[0]
        return real_learn_queue(*args, **kwargs)

    monkeypatch.setattr(study, "learn_queue", learn_queue_while_another_start_commits)
    session = study.session_start(student=student, scope_type="deck", scope_id=deck.pk, mode="learn")
    assert session.pk == winner["session"].pk
    assert StudySession.objects.filter(student=student, status="active").count() == 1


def test_an_answer_locks_its_session_before_the_cards_state(transactional_db, teacher, student):
    """The answer reads both rows locked in one statement; the session comes
    first, as on every path that locks both (Undo, another answer): with the
    state held elsewhere, the waiting answer already holds the session."""
    import psycopg

    setup = make_class(teacher, [student], cards_per_deck=1)
    card = setup.cards[0]
    CardState.objects.create(student=student, card=card, status="review", due_at=timezone.now() - timedelta(days=1))
    session = open_session(student, card)
    params = {k: v for k, v in connection.get_connection_params().items() if k not in ("cursor_factory", "context")}
    holder, prober = psycopg.connect(**params), psycopg.connect(**params, autocommit=True)
    outcome: list = []
    try:
        holder.execute("SELECT id FROM learning_cardstate WHERE card_id = %s FOR UPDATE", [card.pk])
        answering = threading.Thread(
            target=lambda: outcome.extend(
                run_together(
                    lambda: study.session_answer(student=student, session_id=session.pk, card_id=card.pk, quality=4)
                )
            )
        )
        answering.start()
        for _ in range(200):  # until the answer waits for a lock
            waiting = prober.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                ["WITH s AS MATERIALIZED%"],
            ).fetchone()[0]
            if waiting:
                break
            threading.Event().wait(0.05)
        assert waiting, "the answer never waited for the state's lock"
        with pytest.raises(psycopg.errors.LockNotAvailable), prober.transaction():
            prober.execute("SELECT id FROM learning_studysession WHERE id = %s FOR UPDATE NOWAIT", [session.pk])
        holder.rollback()  # the state is free: the answer goes through
        answering.join(30)
    finally:
        holder.close()
        prober.close()
    assert outcome and not isinstance(outcome[0], Exception), outcome
    assert Review.objects.filter(session_id=session.pk).count() == 1
