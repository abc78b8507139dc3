"""Mode rules of learning.study: limits, re-drills, schedules left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from learning import srs, study
from learning.models import CardState, Review, StudySession
from lms.errors import Conflict, Unprocessable
from tests.learning.study_setup import make_class

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def answer_all(student, session, quality=4, now=T0):
    """Answer every card of the session with one quality; returns the results."""
    results = []
    session.refresh_from_db()
    while session.queue:
        results.append(
            study.session_answer(
                student=student, session_id=session.pk, card_id=session.queue[0], quality=quality, now=now
            )
        )
        session.refresh_from_db()
    return results


def snapshot(student):
    return sorted(
        CardState.objects.filter(student=student).values_list(
            "card_id", "repetitions", "interval", "ease", "due_at", "lapses", "reviews_count"
        )
    )


def test_learn_respects_the_daily_new_limit_across_sessions(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=5, new_per_day=3)
    first = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=T0)
    assert first.queue == [c.pk for c in setup.cards[:3]]
    for card_id in first.queue[:2]:
        study.session_answer(student=student, session_id=first.pk, card_id=card_id, quality=5, now=T0)

    second = study.session_start(student=student, scope_type="lesson", scope_id=setup.lesson.pk, mode="learn", now=T0)
    assert len(second.queue) == 1  # 3 a day, 2 already met
    first.refresh_from_db()
    assert first.status == StudySession.Status.ABANDONED  # one learn session at a time
    answer_all(student, second, quality=5)

    with pytest.raises(Unprocessable):
        study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=T0)
    tomorrow = study.session_start(
        student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=T0 + timedelta(days=1)
    )
    assert len(tomorrow.queue) == 2  # the two cards never met


def test_daily_limit_follows_the_students_time_zone(teacher, student):
    # 02:30 UTC is 03:30 in Berlin; an hour later a new study day has begun
    # there (days start at 4 am), while in UTC it is still 03:30.
    setup = make_class(teacher, [student], cards_per_deck=6, new_per_day=2)
    late = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)
    session = study.session_start(
        student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=late
    )
    answer_all(student, session, quality=5, now=late)
    after_midnight_berlin = late + timedelta(hours=1)
    session = study.session_start(
        student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=after_midnight_berlin
    )
    assert len(session.queue) == 2

    student.timezone = "UTC"  # still the same study day in UTC: nothing new left
    student.save(update_fields=["timezone"])
    answer_all(student, session, quality=5, now=after_midnight_berlin)
    with pytest.raises(Unprocessable):
        study.session_start(
            student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=after_midnight_berlin
        )


def test_published_sm2_deck_keeps_rule_7_only_the_first_answer_changes_its_schedule(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2, scheduler="sm2-published")
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=T0)
    a, b = setup.cards

    first = study.session_answer(student=student, session_id=session.pk, card_id=a.pk, quality=1, now=T0)
    assert first.redrill and first.review.changed_schedule
    state = CardState.objects.get(student=student, card=a)
    assert (state.repetitions, state.interval) == (0, 1)
    assert state.ease == srs.sm2(srs.NEW, 1).ease
    after_first = snapshot(student)
    session.refresh_from_db()
    assert session.queue == [b.pk, a.pk]

    study.session_answer(student=student, session_id=session.pk, card_id=b.pk, quality=4, now=T0)
    hard = study.session_answer(student=student, session_id=session.pk, card_id=a.pk, quality=3, now=T0)
    assert hard.redrill and not hard.review.changed_schedule  # Hard is below 4: again
    good = study.session_answer(student=student, session_id=session.pk, card_id=a.pk, quality=5, now=T0)
    assert not good.redrill and good.done and not good.review.changed_schedule

    state.refresh_from_db()
    assert (state.repetitions, state.interval, state.ease) == (0, 1, srs.sm2(srs.NEW, 1).ease)
    assert [s for s in snapshot(student) if s[0] == a.pk] == [s for s in after_first if s[0] == a.pk]
    assert Review.objects.filter(card=a).count() == 3
    assert Review.objects.filter(card=a, changed_schedule=True).count() == 1
    session.refresh_from_db()
    assert session.status == StudySession.Status.COMPLETED
    assert (session.cards_studied, session.answers_count, session.redrill_count) == (2, 4, 2)
    assert session.accuracy == 0.5


def test_review_takes_due_cards_most_overdue_first_up_to_the_daily_limit(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=5, reviews_per_day=3, scheduler="sm2-published")
    c = setup.cards
    for card, due in ((c[0], T0 - timedelta(days=1)), (c[1], T0 - timedelta(days=5)), (c[2], T0 + timedelta(days=9))):
        CardState.objects.create(student=student, card=card, repetitions=2, interval=6, due_at=due, status="review")
    CardState.objects.create(student=student, card=c[3], repetitions=1, interval=1, due_at=T0 + timedelta(hours=3))
    CardState.objects.create(
        student=student, card=c[4], repetitions=3, interval=15, due_at=T0 - timedelta(days=2), status="review"
    )

    session = study.session_start(student=student, scope_type="course", scope_id=setup.course.pk, mode="review", now=T0)
    # Later today counts as due; next week does not; three a day.
    assert session.queue == [c[1].pk, c[4].pk, c[0].pk]
    answer_all(student, session, quality=4)
    # c[3] is due later today but the day's three reviews are done.
    with pytest.raises(Unprocessable):
        study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="review", now=T0)
    state = CardState.objects.get(student=student, card=c[4])
    assert (state.repetitions, state.interval) == (4, 38)  # ceil(15 * 2.5)
    assert state.due_at == T0 + timedelta(days=38)


def test_lapses_count_failures_of_known_cards_and_8_make_a_leech(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=1)
    card = setup.cards[0]
    CardState.objects.create(
        student=student, card=card, repetitions=3, interval=10, due_at=T0, status="review", lapses=7
    )
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="review", now=T0)
    study.session_answer(student=student, session_id=session.pk, card_id=card.pk, quality=0, now=T0)
    session.refresh_from_db()
    state = CardState.objects.get()
    assert state.lapses == 8 and state.is_leech
    summary = study.session_summary(student=student, session=session, now=T0)
    assert [s.card_id for s in summary.leeches] == [card.pk]


@pytest.mark.parametrize("mode", ["cram", "practice", "test"])
def test_cram_practice_and_test_never_change_schedules(teacher, student, mode):
    setup = make_class(teacher, [student], cards_per_deck=4)
    for i, card in enumerate(setup.cards[:3]):
        CardState.objects.create(student=student, card=card, repetitions=2, interval=6, ease=2.1 + i / 10, due_at=T0)
    before = snapshot(student)
    session = study.session_start(
        student=student, scope_type="classroom", scope_id=setup.classroom.pk, mode=mode, now=T0
    )
    assert sorted(session.queue) == sorted(c.pk for c in setup.cards)
    session.refresh_from_db()
    for card_id in list(session.queue):
        study.session_answer(student=student, session_id=session.pk, card_id=card_id, quality=1, answer="nope", now=T0)
    assert snapshot(student) == before  # and the never-studied card got no state
    assert not Review.objects.filter(changed_schedule=True).exists()
    session.refresh_from_db()
    assert session.status == StudySession.Status.COMPLETED  # failures do not re-drill outside learn/review
    assert session.answers_count == 4


def test_practice_puts_the_weakest_cards_first(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=4)
    c = setup.cards
    CardState.objects.create(student=student, card=c[0], ease=2.5, lapses=0, due_at=T0)
    CardState.objects.create(student=student, card=c[1], ease=1.3, lapses=1, due_at=T0)
    CardState.objects.create(student=student, card=c[2], ease=1.3, lapses=4, due_at=T0)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="practice")
    assert session.queue == [c[2].pk, c[1].pk, c[0].pk, c[3].pk]


def test_cram_keeps_order_or_shuffles(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=30)
    ordered = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="cram")
    assert ordered.queue == [c.pk for c in setup.cards]
    shuffled = study.session_start(
        student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="cram", shuffle=True
    )
    assert sorted(shuffled.queue) == sorted(ordered.queue) and shuffled.queue != ordered.queue


@pytest.mark.parametrize(
    ("typed", "back", "right"),
    [
        ("  éLÉPHANT! ", "elephant", True),
        ("Mitochondria", "the mitochondria", False),
        ("ice cream", "Ice-cream.", True),
        ("BRASILIA", "Brasília", True),
        ("cairo", "Cairo; El Qahira", True),
        ("el qahira", "Cairo; El Qahira", True),
        ("paris", "Rome", False),
        ("   ", "Rome", False),
    ],
)
def test_grading_ignores_case_accents_punctuation_and_spacing(typed, back, right):
    from learning.models import Card

    assert study.grade_answer(Card(front="?", back=back), typed) is right


def test_test_mode_grades_typed_answers_and_saves_the_score(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=4)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="test", size=4)
    assert len(session.queue) == 4
    cards = {c.pk: c for c in setup.cards}
    results = []
    for i, card_id in enumerate(list(session.queue)):
        answer = cards[card_id].back.lower() if i < 3 else "no idea"
        results.append(study.session_answer(student=student, session_id=session.pk, card_id=card_id, answer=answer))
    assert [r.correct for r in results] == [True, True, True, False]
    assert results[3].expected == cards[results[3].review.card_id].back
    session.refresh_from_db()
    assert session.score == 75.0 and session.status == StudySession.Status.COMPLETED
    with pytest.raises(ValidationError):  # a test answer must be typed
        other = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="test")
        study.session_answer(student=student, session_id=other.pk, card_id=other.queue[0], quality=5)


def test_test_draws_n_random_cards(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=30)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="test")
    assert len(session.queue) == study.DEFAULT_TEST_SIZE == len(set(session.queue))
    assert session.queue != [c.pk for c in setup.cards[:20]]


def test_a_session_idle_for_30_minutes_is_abandoned(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=T0)
    study.session_answer(student=student, session_id=session.pk, card_id=session.queue[0], quality=4, now=T0)
    with pytest.raises(Conflict):
        study.session_answer(
            student=student, session_id=session.pk, card_id=setup.cards[1].pk, quality=4, now=T0 + timedelta(minutes=31)
        )
    assert study.expire_idle_sessions(now=T0 + timedelta(minutes=31)) == 1
    session.refresh_from_db()
    assert session.status == StudySession.Status.ABANDONED


@pytest.mark.parametrize("quality", [-1, 6, "x", None, 2.5])
def test_bad_quality_is_refused_and_writes_nothing(teacher, student, quality):
    setup = make_class(teacher, [student], cards_per_deck=1)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    with pytest.raises(ValidationError):
        study.session_answer(student=student, session_id=session.pk, card_id=setup.cards[0].pk, quality=quality)
    assert not Review.objects.exists() and not CardState.objects.exists()


def test_unknown_mode_or_scope_is_a_validation_error(teacher, student):
    setup = make_class(teacher, [student])
    with pytest.raises(ValidationError):
        study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="sleep")
    with pytest.raises(ValidationError):
        study.session_start(student=student, scope_type="galaxy", scope_id=1, mode="learn")


def test_deleting_a_card_keeps_the_review_history(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=1)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn")
    study.session_answer(student=student, session_id=session.pk, card_id=setup.cards[0].pk, quality=4)
    setup.cards[0].delete()
    review = Review.objects.get()
    assert review.card_id is None and review.quality == 4
    assert not CardState.objects.exists()


def test_study_reports_its_events_through_tracking(teacher, student):
    from lms.tracking import event_tracked

    seen = []

    def receiver(sender, name, user, session_key, properties, **kwargs):
        seen.append((name, properties))

    event_tracked.connect(receiver)
    try:
        setup = make_class(teacher, [student], cards_per_deck=1)
        session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="test")
        study.session_answer(student=student, session_id=session.pk, card_id=setup.cards[0].pk, answer="A0-0")
    finally:
        event_tracked.disconnect(receiver)
    names = [name for name, _ in seen]
    assert names == ["study_session_started", "review_submitted", "study_session_completed", "test_completed"]
    props = dict(seen)
    assert props["study_session_started"]["mode"] == "test" and props["study_session_started"]["scope"] == "deck"
    assert props["review_submitted"]["quality"] == 5
    assert props["study_session_completed"]["cards"] == 1 and props["study_session_completed"]["accuracy"] == 1.0
    assert props["test_completed"]["score"] == 100.0


def test_expire_command_abandons_idle_sessions(teacher, student):
    from io import StringIO

    from django.core.management import call_command

    setup = make_class(teacher, [student], cards_per_deck=1)
    session = study.session_start(
        student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=T0 - timedelta(hours=1)
    )
    out = StringIO()
    call_command("expire_study_sessions", stdout=out)
    assert "1 idle" in out.getvalue()
    session.refresh_from_db()
    assert session.status == StudySession.Status.ABANDONED and session.ended_at == session.last_activity_at


def test_idle_sessions_are_expired_by_a_scheduled_task():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="learning.tasks.expire_study_sessions")
    assert (task.interval.every, task.interval.period) == (10, "minutes")


def test_summary_of_a_session_ended_early_says_cards_are_due_now(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=3, scheduler="sm2-published")
    for card in setup.cards[:3]:
        CardState.objects.create(student=student, card=card, repetitions=2, interval=6, due_at=T0 - timedelta(days=1))
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="review", now=T0)
    study.session_answer(student=student, session_id=session.pk, card_id=session.queue[0], quality=4, now=T0)
    session = study.session_end(student=student, session_id=session.pk, now=T0)
    summary = study.session_summary(student=student, session=session, now=T0)
    assert summary.due_now == 2
    assert summary.next_due_at == T0 + timedelta(days=15)  # the answered card: 6 × 2.5 days


def test_summary_after_everything_is_done_points_to_the_next_due_card(teacher, student):
    setup = make_class(teacher, [student], cards_per_deck=2)
    session = study.session_start(student=student, scope_type="deck", scope_id=setup.decks[0].pk, mode="learn", now=T0)
    answer_all(student, session, quality=5)
    summary = study.session_summary(student=student, session=StudySession.objects.get(pk=session.pk), now=T0)
    assert summary.due_now == 0
    assert summary.next_due_at == T0 + timedelta(days=4)  # Easy on a new card: the easy interval
