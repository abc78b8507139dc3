"""Demo study history for the demo student (called by `manage.py seed_demo`).

Sixty days of believable studying, simulated with the real SM-2 function: most
days the student reviews what is due and meets a few new cards; answers are
mostly right, one card keeps slipping (a leech), and at least ten cards are due
now so a review session is waiting. Idempotent: a student with any review
already has a history and is left alone.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from learning import scheduling, srs
from learning.models import LEECH_LAPSES, Card, CardState, Deck, Review, StudySession
from learning.study import apply_answer, review_row

if TYPE_CHECKING:
    from lms.demo import DemoUsers
    from lms.models import User

HISTORY_DAYS = 60
MAX_CARDS = 40
NEW_PER_DAY = 3
MAX_STEP_ANSWERS = 4
MIN_DUE_NOW = 10

STARTER_CARDS = [
    ("Capital of France", "Paris"),
    ("Capital of Japan", "Tokyo"),
    ("Capital of Canada", "Ottawa"),
    ("Capital of Australia", "Canberra"),
    ("Capital of Brazil", "Brasília"),
    ("Capital of Egypt", "Cairo"),
    ("Capital of Kenya", "Nairobi"),
    ("Capital of Norway", "Oslo"),
    ("Capital of Peru", "Lima"),
    ("Capital of Spain", "Madrid"),
    ("Capital of Turkey", "Ankara"),
    ("Capital of Vietnam", "Hanoi"),
    ("Capital of Chile", "Santiago"),
    ("Capital of Poland", "Warsaw"),
    ("Capital of India", "New Delhi"),
    ("Capital of Morocco", "Rabat"),
    ("Capital of Portugal", "Lisbon"),
    ("Capital of Sweden", "Stockholm"),
    ("Capital of Iceland", "Reykjavík"),
    ("Capital of Mexico", "Mexico City"),
]


def _cards_for(student: User) -> list[Card]:
    """The demo class's cards; topped up with a small personal deck when the
    student can see too few to have ten due (or none at all)."""
    cards = list(
        Card.objects.visible_to(student)
        .order_by(
            F("deck__lesson_id").asc(nulls_last=True),  # class decks before personal ones
            "deck__lesson__course__position",
            "deck__lesson__position",
            "deck__position",
            "deck_id",
            "position",
        )
        .select_related("deck")[: MAX_CARDS + 10]
    )
    if len(cards) >= MIN_DUE_NOW + 5:
        return cards
    deck, _ = Deck.objects.get_or_create(
        owner=student,
        lesson=None,
        title="World capitals",
        defaults={"description": "A starter deck to try studying with."},
    )
    if not deck.cards.exists():
        Card.objects.bulk_create(
            [Card(deck=deck, front=front, back=back, position=i) for i, (front, back) in enumerate(STARTER_CARDS)]
        )
    return cards + list(deck.cards.order_by("position", "id"))


def _quality(rng: random.Random, state: CardState, leech: bool) -> int:
    if leech and state.status == CardState.Status.REVIEW:
        # The card that will not stick: forgotten whenever it reaches review.
        return rng.choice([1, 2])
    if leech and state.status != CardState.Status.NEW:
        return rng.choice([3, 4])
    return rng.choices([1, 2, 3, 4, 5], weights=[8, 3, 17, 45, 27])[0]


@transaction.atomic
def seed(users: DemoUsers) -> None:
    student = users.student
    if Review.objects.filter(student=student).exists():
        return
    cards = _cards_for(student)
    if not cards:
        return
    rng = random.Random(20261125 + student.pk)  # the same history every time
    now = timezone.now()
    # Leave the last few cards new so "learn" has something to offer.
    studied = cards[: min(MAX_CARDS, len(cards) - 5)]
    leech_id = studied[1].pk if len(studied) > 1 else None

    states: dict[int, CardState] = {}
    reviews: list[Review] = []
    sessions: list[tuple[StudySession, list[Review]]] = []
    waiting = list(studied)
    first_day = (now - timedelta(days=HISTORY_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    for day_index in range(HISTORY_DAYS):
        day = first_day + timedelta(days=day_index)
        # Some days off, more of them early on; the last week is a streak.
        if day_index < HISTORY_DAYS - 7 and rng.random() < 0.25:
            continue
        clock = day + timedelta(hours=rng.choice([7, 12, 18, 20]), minutes=rng.randint(0, 50))
        started = clock
        day_reviews: list[Review] = []
        due = [s for s in states.values() if s.due_at <= day + timedelta(days=1)]
        new = [waiting.pop(0) for _ in range(min(NEW_PER_DAY, len(waiting)))]
        for state_or_card in [*sorted(due, key=lambda s: s.due_at), *new]:
            if isinstance(state_or_card, CardState):
                state = state_or_card
            else:
                state = CardState(student=student, card=state_or_card, due_at=clock)
                states[state_or_card.pk] = state
            card_id = state.card.pk
            at = clock
            mode = StudySession.Mode.LEARN if state.status == CardState.Status.NEW else StudySession.Mode.REVIEW
            # A card in learning steps comes back within the session when its
            # step is due, as in a real session; a few tries at most.
            for _ in range(MAX_STEP_ANSWERS):
                quality = _quality(rng, state, card_id == leech_id)
                status_before = state.status
                before, after = apply_answer(state, quality, at, deck=state.card.deck)
                response_ms = rng.randint(1800, 9000)
                day_reviews.append(
                    review_row(
                        student=student,
                        card_id=card_id,
                        mode=mode,
                        quality=quality,
                        correct=quality >= srs.PASSING_QUALITY,
                        reviewed_at=at,
                        status_before=status_before,
                        before=before,
                        after=after,
                        changed_schedule=True,
                        response_ms=response_ms,
                    )
                )
                if not scheduling.in_steps(state.status):
                    break
                at = state.due_at
            clock += timedelta(milliseconds=response_ms + 1500)
        if day_reviews:
            session = StudySession(
                student=student,
                mode=StudySession.Mode.REVIEW,
                scope_type=StudySession.Scope.ALL,
                scope_title="All my cards",
                status=StudySession.Status.COMPLETED,
                cards_total=len(day_reviews),
                answers_count=len(day_reviews),
                correct_count=sum(r.correct for r in day_reviews),
                first_correct_count=sum(r.correct for r in day_reviews),
                answered_ids=[r.card_id for r in day_reviews],
                duration_seconds=int((clock - started).total_seconds()),
                started_at=started,
                last_activity_at=clock,
                ended_at=clock,
            )
            sessions.append((session, day_reviews))
            reviews += day_reviews

    # The leech: make sure it has crossed the line (its history says why).
    if leech_id and leech_id in states and states[leech_id].lapses < LEECH_LAPSES:
        states[leech_id].lapses = LEECH_LAPSES

    # A review session is waiting: the most nearly due cards become due now.
    not_due = sorted((s for s in states.values() if s.due_at > now), key=lambda s: s.due_at)
    due_now = sum(1 for s in states.values() if s.due_at <= now)
    for state in not_due[: max(0, MIN_DUE_NOW - due_now)]:
        state.due_at = now - timedelta(hours=rng.randint(1, 20))

    StudySession.objects.bulk_create([s for s, _ in sessions])
    for session, day_reviews in sessions:
        for review in day_reviews:
            review.session = session
    Review.objects.bulk_create(reviews, batch_size=500)
    CardState.objects.bulk_create(list(states.values()), batch_size=500)
    _seed_tests(student, cards, rng, now)


def _seed_tests(student: User, cards: list[Card], rng: random.Random, now: datetime) -> None:
    """Two past tests, so scores show on the dashboard and to the teacher."""
    deck = cards[0].deck
    classroom = deck.lesson.course.classroom if deck.lesson_id else None
    for days_ago, right_share in ((12, 0.6), (3, 0.85)):
        picked = rng.sample(cards, min(10, len(cards)))
        started = now - timedelta(days=days_ago, hours=2)
        session = StudySession.objects.create(
            student=student,
            mode=StudySession.Mode.TEST,
            scope_type=StudySession.Scope.DECK,
            scope_id=deck.pk,
            scope_title=deck.title,
            classroom=classroom,
            status=StudySession.Status.COMPLETED,
            cards_total=len(picked),
            started_at=started,
            last_activity_at=started + timedelta(minutes=6),
            ended_at=started + timedelta(minutes=6),
            duration_seconds=360,
        )
        rows, right = [], 0
        for i, card in enumerate(picked):
            correct = rng.random() < right_share
            right += correct
            state = CardState.objects.filter(student=student, card=card).first()
            schedule = srs.Schedule(state.repetitions, state.interval, state.ease) if state else srs.NEW
            rows.append(
                Review(
                    student=student,
                    card=card,
                    session=session,
                    mode=StudySession.Mode.TEST,
                    quality=5 if correct else 1,
                    typed_answer=card.back if correct else "not sure",
                    correct=correct,
                    response_ms=rng.randint(4000, 15000),
                    reviewed_at=started + timedelta(seconds=30 * i),
                    status_before=state.status if state else CardState.Status.NEW,
                    repetitions_before=schedule.repetitions,
                    interval_before=schedule.interval,
                    ease_before=schedule.ease,
                    repetitions_after=schedule.repetitions,
                    interval_after=schedule.interval,
                    ease_after=schedule.ease,
                    changed_schedule=False,
                )
            )
        Review.objects.bulk_create(rows)
        session.answered_ids = [c.pk for c in picked]
        session.answers_count = session.correct_count = len(picked)
        session.correct_count = session.first_correct_count = right
        session.score = round(100 * right / len(picked), 1)
        session.save()
