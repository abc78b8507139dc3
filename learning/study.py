"""Studying: sessions, the five modes and answering a card.

Services (`session_start`, `session_next`, `session_answer`, `session_end`)
are the one place each operation happens; the study pages and the API both
call them. Every card is loaded through `learning.access`, so a student can
only study cards of decks they can see (404 otherwise).

Mode rules:
- learn: new cards of the scope, up to each deck's new-cards-per-day limit,
  counted per student per local day (the student's time zone);
- review: due cards (due by the end of the student's day), most overdue first,
  up to each deck's reviews-per-day limit;
- in both, SM-2's rule 7: an answer below 4 sends the card back to the end of
  the session queue until it is answered 4 or more; only the first answer in a
  session changes the schedule, re-drills are logged and change nothing;
- cram (all cards, in order or shuffled), practice (weakest first) and test
  (N random cards, typed answers graded automatically) never change schedules.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, FilteredRelation, Min, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.html import strip_tags

from learning import srs
from learning.access import get_card_for, get_classroom_for, get_course_for, get_deck_for, get_lesson_for
from learning.models import LEECH_LAPSES, Card, CardState, Classroom, Review, StudySession
from lms.errors import Conflict, Unprocessable
from lms.tracking import track

if TYPE_CHECKING:
    from lms.models import User

Mode = StudySession.Mode
ScopeType = StudySession.Scope

IDLE_AFTER = timedelta(minutes=30)
DEFAULT_TEST_SIZE = 20
DEFAULT_PRACTICE_SIZE = 20
MAX_SESSION_SIZE = 500
# The four answer buttons: label, quality, keyboard key.
BUTTONS = (("Again", 1, "1"), ("Hard", 3, "2"), ("Good", 4, "3"), ("Easy", 5, "4"))
# Typed test answers are logged with these qualities so averages stay comparable.
TEST_RIGHT_QUALITY = 5
TEST_WRONG_QUALITY = 1


# --- Time ---------------------------------------------------------------------


def local_day_bounds(user: User, now: datetime) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of the student's current day, as aware datetimes."""
    tz = user.tzinfo
    today = now.astimezone(tz).date()
    start = datetime.combine(today, time.min, tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


# --- Scope ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    type: str
    id: int | None
    title: str
    classroom: Classroom | None
    cards: QuerySet  # Card ids the student may study here, as a QuerySet of Card


def resolve_scope(user: User, scope_type: str, scope_id: object) -> Scope:
    """The cards a scope covers for this user; 404 when the scope is hidden."""
    visible = Card.objects.visible_to(user).order_by()
    if scope_type == "class":
        scope_type = ScopeType.CLASSROOM
    if scope_type == ScopeType.ALL:
        return Scope(ScopeType.ALL, None, "All my cards", None, visible)
    if scope_type == ScopeType.DECK:
        deck = get_deck_for(user, scope_id)
        classroom = deck.lesson.course.classroom if deck.lesson_id else None
        return Scope(scope_type, deck.pk, deck.title, classroom, visible.filter(deck=deck))
    if scope_type == ScopeType.LESSON:
        lesson = get_lesson_for(user, scope_id)
        return Scope(scope_type, lesson.pk, lesson.title, lesson.course.classroom, visible.filter(deck__lesson=lesson))
    if scope_type == ScopeType.COURSE:
        course = get_course_for(user, scope_id)
        return Scope(scope_type, course.pk, course.title, course.classroom, visible.filter(deck__lesson__course=course))
    if scope_type == ScopeType.CLASSROOM:
        classroom = get_classroom_for(user, scope_id)
        return Scope(
            scope_type,
            classroom.pk,
            classroom.name,
            classroom,
            visible.filter(deck__lesson__course__classroom=classroom),
        )
    raise ValidationError({"scope_type": f"Unknown scope {scope_type!r}; use one of {', '.join(ScopeType.values)}."})


def scope_for_session(user: User, session: StudySession) -> Scope:
    """The scope again, for an existing session (404 if it became hidden)."""
    return resolve_scope(user, session.scope_type, session.scope_id)


# --- Daily limits -------------------------------------------------------------


def studied_today_by_deck(user: User, now: datetime) -> dict[int, tuple[int, int]]:
    """{deck_id: (new cards introduced, reviews done)} today in the student's
    time zone; only answers that changed a schedule count."""
    start, _ = local_day_bounds(user, now)
    rows = (
        Review.objects.filter(student=user, reviewed_at__gte=start, changed_schedule=True)
        .values("card__deck_id")
        .annotate(
            new=Count("id", filter=Q(status_before=CardState.Status.NEW)),
            reviewed=Count("id", filter=~Q(status_before=CardState.Status.NEW)),
        )
        .order_by()
    )
    return {row["card__deck_id"]: (row["new"], row["reviewed"]) for row in rows}


# --- Queues for each mode ------------------------------------------------------


def learn_queue(user: User, scope: Scope, now: datetime) -> list[int]:
    """New cards in deck and card order, capped per deck by what is left of
    today's new-card allowance."""
    done = studied_today_by_deck(user, now)
    rows = (
        scope.cards.exclude(pk__in=CardState.objects.filter(student=user).values("card_id"))
        .order_by("deck__position", "deck_id", "position", "id")
        .values_list("id", "deck_id", "deck__new_cards_per_day")
    )
    left: dict[int, int] = {}
    queue = []
    for card_id, deck_id, per_day in rows:
        if deck_id not in left:
            left[deck_id] = max(0, per_day - done.get(deck_id, (0, 0))[0])
        if left[deck_id] > 0:
            left[deck_id] -= 1
            queue.append(card_id)
    return queue


def review_queue(user: User, scope: Scope, now: datetime) -> list[int]:
    """Cards due by the end of the student's day, most overdue first, capped
    per deck by what is left of today's review allowance."""
    done = studied_today_by_deck(user, now)
    _, day_end = local_day_bounds(user, now)
    rows = (
        CardState.objects.due_for(user, day_end)
        .filter(card__in=scope.cards.values("pk"))
        .values_list("card_id", "card__deck_id", "card__deck__reviews_per_day")
    )
    left: dict[int, int] = {}
    queue = []
    for card_id, deck_id, per_day in rows:
        if deck_id not in left:
            left[deck_id] = max(0, per_day - done.get(deck_id, (0, 0))[1])
        if left[deck_id] > 0:
            left[deck_id] -= 1
            queue.append(card_id)
    return queue


def cram_queue(scope: Scope, *, shuffle: bool, size: int | None) -> list[int]:
    ids = list(scope.cards.order_by("deck__position", "deck_id", "position", "id").values_list("id", flat=True))
    if shuffle:
        random.shuffle(ids)
    return ids[:size] if size else ids


def practice_queue(user: User, scope: Scope, *, size: int) -> list[int]:
    """Weakest first: lowest ease, then most lapses, then most overdue; cards
    never studied come after every studied one."""
    ids = list(scope.cards.order_by("deck__position", "deck_id", "position", "id").values_list("id", flat=True))
    states = {
        card_id: (ease, -lapses, due_at.timestamp())
        for card_id, ease, lapses, due_at in CardState.objects.filter(
            student=user, card__in=scope.cards.values("pk")
        ).values_list("card_id", "ease", "lapses", "due_at")
    }
    order = {card_id: i for i, card_id in enumerate(ids)}
    ids.sort(key=lambda c: (0, *states[c]) if c in states else (1, 0.0, 0, float(order[c])))
    return ids[:size]


def test_queue(scope: Scope, *, size: int) -> list[int]:
    ids = list(scope.cards.values_list("id", flat=True))
    return random.sample(ids, min(size, len(ids)))


# --- Grading typed answers ---------------------------------------------------------


def normalise_answer(text: str) -> str:
    """Letters and digits only, case-folded, accents removed: "  Éléphant! "
    and "elephant" compare equal; so do "ice-cream" and "Ice cream"."""
    decomposed = unicodedata.normalize("NFKD", strip_tags(text or "")).casefold()
    return "".join(ch for ch in decomposed if ch.isalnum())


def expected_answers(card: Card) -> list[str]:
    """The back, and each ';'-separated alternative on it."""
    back = strip_tags(card.back)
    return [back, *[part for part in back.split(";") if part.strip()]]


def grade_answer(card: Card, typed: str) -> bool:
    given = normalise_answer(typed)
    if not given:
        return False
    return any(given == normalise_answer(option) for option in expected_answers(card))


# --- Sessions ---------------------------------------------------------------------


def _expire_if_idle(session: StudySession, now: datetime) -> None:
    """An active session with no answer for 30 minutes is abandoned."""
    if session.status == StudySession.Status.ACTIVE and session.last_activity_at < now - IDLE_AFTER:
        session.status = StudySession.Status.ABANDONED
        session.ended_at = session.last_activity_at
        session.queue = []
        session.save(update_fields=["status", "ended_at", "queue"])


def expire_idle_sessions(*, now: datetime | None = None) -> int:
    """Abandon every session idle for 30 minutes (for a periodic job)."""
    now = now or timezone.now()
    return StudySession.objects.filter(status=StudySession.Status.ACTIVE, last_activity_at__lt=now - IDLE_AFTER).update(
        status=StudySession.Status.ABANDONED, ended_at=F("last_activity_at"), queue=[]
    )


def _parse_size(size: object, default: int | None) -> int | None:
    if size in (None, ""):
        return default
    try:
        value = int(size)
    except (TypeError, ValueError):
        raise ValidationError({"size": "Enter a whole number of cards."}) from None
    if not 1 <= value <= MAX_SESSION_SIZE:
        raise ValidationError({"size": f"Choose between 1 and {MAX_SESSION_SIZE} cards."})
    return value


def session_start(
    *,
    student: User,
    scope_type: str,
    scope_id: object = None,
    mode: str,
    size: object = None,
    shuffle: bool = False,
    now: datetime | None = None,
) -> StudySession:
    """Open a session on a scope the student can see and fill its queue.

    Starting a session abandons the student's other active session of the same
    mode: its unanswered cards go back to the pool, so daily limits hold across
    sessions and two tabs cannot both hand out today's new cards.
    """
    now = now or timezone.now()
    if mode not in Mode.values:
        raise ValidationError({"mode": f"Unknown mode {mode!r}; use one of {', '.join(Mode.values)}."})
    if scope_type != ScopeType.ALL and scope_id in (None, ""):
        raise ValidationError({"scope_id": "This scope needs an id."})
    scope = resolve_scope(student, scope_type, scope_id)

    with transaction.atomic():
        StudySession.objects.filter(student=student, mode=mode, status=StudySession.Status.ACTIVE).update(
            status=StudySession.Status.ABANDONED, ended_at=now, queue=[]
        )
        if mode == Mode.LEARN:
            queue = learn_queue(student, scope, now)
        elif mode == Mode.REVIEW:
            queue = review_queue(student, scope, now)
        elif mode == Mode.CRAM:
            queue = cram_queue(scope, shuffle=shuffle, size=_parse_size(size, None))
        elif mode == Mode.PRACTICE:
            queue = practice_queue(student, scope, size=_parse_size(size, DEFAULT_PRACTICE_SIZE) or 0)
        else:
            queue = test_queue(scope, size=_parse_size(size, DEFAULT_TEST_SIZE) or 0)
        if not queue:
            # An empty deck is not "all caught up": say what is really missing.
            message = _nothing_message(mode) if scope.cards.exists() else EMPTY_SCOPE_MESSAGE
            raise Unprocessable(message, code="nothing_to_study", details={"mode": mode})
        session = StudySession.objects.create(
            student=student,
            mode=mode,
            scope_type=scope.type,
            scope_id=scope.id,
            scope_title=scope.title[:200],
            classroom=scope.classroom,
            shuffle=bool(shuffle),
            queue=queue,
            cards_total=len(queue),
            started_at=now,
            last_activity_at=now,
        )
    track("study_session_started", user=student, mode=mode, scope=scope.type, scope_id=scope.id, cards=len(queue))
    return session


EMPTY_SCOPE_MESSAGE = "There are no cards here yet: add some to the deck first."


def _nothing_message(mode: str) -> str:
    if mode == Mode.LEARN:
        return "No new cards left here today: you have met them all or reached the daily limit."
    if mode == Mode.REVIEW:
        return "Nothing is due here right now. Well done!"
    return "There are no cards here to study yet."


def get_session_for(student: User, pk: object, *, lock: bool = False) -> StudySession:
    """The student's own session or 404 (other people's sessions are hidden)."""
    qs = StudySession.objects.filter(student=student)
    if lock:
        qs = qs.select_for_update()
    try:
        value = int(pk)
        if not 0 < value < 2**63:  # beyond any id; SQLite would overflow
            raise ValueError(value)
        return qs.get(pk=value)
    except (StudySession.DoesNotExist, TypeError, ValueError):
        raise Http404("No such study session.") from None


@dataclass(frozen=True)
class NextCard:
    session: StudySession
    card: Card
    schedule: srs.Schedule
    first_answer: bool
    previews: dict[int, str]  # quality -> what the button would do ("6d", "again")
    idempotency_key: str
    position: int  # 1-based number of answers given so far + 1
    remaining: int
    is_leech: bool = False
    buttons: list[tuple[str, int, str, str]] = field(default_factory=list)

    @property
    def progress_percent(self) -> int:
        total = self.session.answers_count + self.remaining
        return round(100 * self.session.answers_count / total) if total else 100


def _previews(session: StudySession, schedule: srs.Schedule, first: bool) -> dict[int, str]:
    if session.mode == Mode.TEST:
        return {}
    if session.changes_schedules and first:
        return {q: srs.format_interval(srs.sm2(schedule, q).interval) for _, q, _ in BUTTONS}
    if session.changes_schedules:
        # A re-drill: the schedule is already set for today; below 4 it comes back.
        return {q: ("again" if q < srs.REDRILL_BELOW else "done") for _, q, _ in BUTTONS}
    return {q: "" for _, q, _ in BUTTONS}


def session_next(*, student: User, session: StudySession, now: datetime | None = None) -> NextCard | None:
    """The card at the head of the queue, or None when the session is over
    (the session is then completed)."""
    now = now or timezone.now()
    _expire_if_idle(session, now)
    if session.status != StudySession.Status.ACTIVE:
        return None
    while session.queue:
        card_id = session.queue[0]
        # The card (if the student may still see it) with their schedule for
        # it, in one query: the state joins in through the unique (student,
        # card) pair, so it adds at most one row.
        card = (
            Card.objects.visible_to(student)
            .annotate(mine=FilteredRelation("states", condition=Q(states__student=student)))
            .annotate(
                state_id=F("mine__id"),
                state_repetitions=F("mine__repetitions"),
                state_interval=F("mine__interval"),
                state_ease=F("mine__ease"),
                state_lapses=F("mine__lapses"),
            )
            .filter(pk=card_id)
            .first()
        )
        if card is None:
            # The card was deleted or hidden since the session started: skip it.
            session.queue = [c for c in session.queue if c != card_id]
            session.save(update_fields=["queue"])
            continue
        has_state = card.state_id is not None
        schedule = srs.Schedule(card.state_repetitions, card.state_interval, card.state_ease) if has_state else srs.NEW
        first = card_id not in session.answered_ids
        previews = _previews(session, schedule, first)
        return NextCard(
            session=session,
            card=card,
            schedule=schedule,
            first_answer=first,
            previews=previews,
            idempotency_key=uuid.uuid4().hex,
            position=session.answers_count + 1,
            remaining=len(session.queue),
            is_leech=has_state and card.state_lapses >= LEECH_LAPSES,
            buttons=[(label, q, key, previews.get(q, "")) for label, q, key in BUTTONS],
        )
    session_end(student=student, session_id=session.pk, now=now)
    session.refresh_from_db()
    return None


@dataclass(frozen=True)
class AnswerResult:
    review: Review
    session: StudySession
    correct: bool
    expected: str
    redrill: bool
    done: bool
    replayed: bool = False

    @property
    def interval(self) -> int:
        return self.review.interval_after

    def as_dict(self) -> dict:
        return {
            "review": self.review.pk,
            "card": self.review.card_id,
            "quality": self.review.quality,
            "correct": self.correct,
            "expected": self.expected,
            "changed_schedule": self.review.changed_schedule,
            "schedule": {
                "repetitions": self.review.repetitions_after,
                "interval": self.review.interval_after,
                "ease": self.review.ease_after,
            },
            "redrill": self.redrill,
            "session_done": self.done,
            "replayed": self.replayed,
        }


def _replay(review: Review, session: StudySession, card_id: int) -> AnswerResult:
    if review.card_id != card_id or review.session_id != session.pk:
        raise Conflict(
            "This idempotency key was already used for another answer.",
            code="idempotency_key_reused",
            details={"card": review.card_id, "session": review.session_id},
        )
    card = review.card
    return AnswerResult(
        review=review,
        session=session,
        correct=review.correct,
        expected=strip_tags(card.back) if review.mode == Mode.TEST else "",
        redrill=review.mode in (Mode.LEARN, Mode.REVIEW) and review.quality < srs.REDRILL_BELOW,
        done=session.status != StudySession.Status.ACTIVE,
        replayed=True,
    )


# What one scheduled answer changes on a CardState.
SCHEDULE_FIELDS = ["repetitions", "interval", "ease", "status", "due_at", "last_reviewed_at", "reviews_count", "lapses"]


def apply_answer(state: CardState, quality: int, now: datetime) -> tuple[srs.Schedule, srs.Schedule]:
    """Move `state` on by one answer that counts for its schedule (not saved):
    SM-2, a lapse when a learnt card is failed, status and the next due time.
    The study service and the demo history both go through here."""
    before = srs.Schedule(state.repetitions, state.interval, state.ease)
    after = srs.sm2(before, quality)
    if quality < srs.PASSING_QUALITY and state.status != CardState.Status.NEW:
        state.lapses += 1
    state.repetitions, state.interval, state.ease = after.repetitions, after.interval, after.ease
    state.status = CardState.Status.REVIEW if after.repetitions >= 2 else CardState.Status.LEARNING
    state.due_at = srs.due_after(now, after)
    state.last_reviewed_at = now
    state.reviews_count += 1
    return before, after


def review_row(
    *,
    student: User,
    card_id: int,
    mode: str,
    quality: int,
    correct: bool,
    reviewed_at: datetime,
    status_before: str,
    before: srs.Schedule,
    after: srs.Schedule,
    changed_schedule: bool,
    session: StudySession | None = None,
    **extra: Any,
) -> Review:
    """The (unsaved) log row of one answer, with the schedule before and after."""
    return Review(
        student=student,
        card_id=card_id,
        session=session,
        mode=mode,
        quality=quality,
        correct=correct,
        reviewed_at=reviewed_at,
        status_before=status_before,
        repetitions_before=before.repetitions,
        interval_before=before.interval,
        ease_before=before.ease,
        repetitions_after=after.repetitions,
        interval_after=after.interval,
        ease_after=after.ease,
        changed_schedule=changed_schedule,
        **extra,
    )


def session_answer(
    *,
    student: User,
    session_id: object,
    card_id: object,
    quality: object = None,
    answer: str | None = None,
    response_ms: object = None,
    idempotency_key: str = "",
    now: datetime | None = None,
) -> AnswerResult:
    """Record one answer. Idempotent per key; row locks keep two simultaneous
    answers for the same card (or session) from corrupting either."""
    now = now or timezone.now()
    idempotency_key = (idempotency_key or "").strip()
    if len(idempotency_key) > 64:
        raise ValidationError({"idempotency_key": "At most 64 characters."})
    response_ms = _parse_response_ms(response_ms)
    with transaction.atomic():
        # The session row lock serialises answers within a session, so a
        # retried request sees the first one's review below.
        session = get_session_for(student, session_id, lock=True)
        card = get_card_for(student, card_id)
        if idempotency_key:
            existing = (
                Review.objects.filter(student=student, idempotency_key=idempotency_key).select_related("card").first()
            )
            if existing is not None:
                return _replay(existing, session, card.pk)
        _expire_if_idle(session, now)
        if session.status != StudySession.Status.ACTIVE:
            raise Conflict("This study session has ended.", code="session_not_active")
        if card.pk not in session.queue:
            raise Unprocessable("This card is not waiting in this session.", code="card_not_in_session")

        if session.mode == Mode.TEST:
            if answer is None or not str(answer).strip():
                raise ValidationError({"answer": "Type an answer."})
            typed = str(answer)[:500]
            correct = grade_answer(card, typed)
            quality = TEST_RIGHT_QUALITY if correct else TEST_WRONG_QUALITY
        else:
            try:
                quality = srs.validate_quality(_as_int(quality))
            except ValueError as exc:
                raise ValidationError({"quality": str(exc)}) from None
            typed = ""
            correct = quality >= srs.PASSING_QUALITY

        first = card.pk not in session.answered_ids
        changes = session.changes_schedules and first
        state = CardState.objects.select_for_update().filter(student=student, card=card).first()
        if state is None and changes:
            # Two first answers may race to create the state: one insert wins,
            # both then lock the same row.
            CardState.objects.bulk_create(
                [CardState(student=student, card=card, due_at=now, ease=srs.START_EASE)], ignore_conflicts=True
            )
            state = CardState.objects.select_for_update().get(student=student, card=card)
        status_before = state.status if state else CardState.Status.NEW
        if changes:
            before, after = apply_answer(state, quality, now)
            state.save(update_fields=SCHEDULE_FIELDS)
        else:
            before = after = srs.Schedule(state.repetitions, state.interval, state.ease) if state else srs.NEW

        review = review_row(
            student=student,
            card_id=card.pk,
            session=session,
            mode=session.mode,
            quality=quality,
            correct=correct,
            reviewed_at=now,
            status_before=status_before,
            before=before,
            after=after,
            changed_schedule=changes,
            typed_answer=typed,
            response_ms=response_ms,
            idempotency_key=idempotency_key,
        )
        review.save()

        queue = list(session.queue)
        queue.remove(card.pk)
        redrill = session.changes_schedules and quality < srs.REDRILL_BELOW
        if redrill:
            queue.append(card.pk)
            session.redrill_count += 1
        session.queue = queue
        if first:
            session.answered_ids = [*session.answered_ids, card.pk]
            session.first_correct_count += int(correct)
        session.answers_count += 1
        session.correct_count += int(correct)
        if session.mode == Mode.TEST:
            session.score = round(100 * session.first_correct_count / len(session.answered_ids), 1)
        session.last_activity_at = now
        session.duration_seconds = max(0, int((now - session.started_at).total_seconds()))
        fields = [
            "queue",
            "answered_ids",
            "first_correct_count",
            "answers_count",
            "correct_count",
            "redrill_count",
            "score",
            "last_activity_at",
            "duration_seconds",
        ]
        done = not queue
        if done:
            _complete(session, now)
            fields += ["status", "ended_at"]
        session.save(update_fields=fields)

    track("review_submitted", user=student, mode=session.mode, quality=quality, card_id=card.pk)
    if done:
        _track_completed(session)
    return AnswerResult(
        review=review,
        session=session,
        correct=correct,
        expected=strip_tags(card.back) if session.mode == Mode.TEST else "",
        redrill=redrill,
        done=done,
    )


def _as_int(value: object) -> object:
    """'4' from a form is 4; anything else is left for validate_quality to refuse."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def _parse_response_ms(value: object) -> int | None:
    if value in (None, ""):
        return None
    try:
        ms = int(value)
    except (TypeError, ValueError):
        raise ValidationError({"response_ms": "A whole number of milliseconds."}) from None
    if ms < 0:
        raise ValidationError({"response_ms": "Cannot be negative."})
    # A card left open over lunch is not a 2-hour answer.
    return min(ms, 10 * 60 * 1000)


def _complete(session: StudySession, now: datetime) -> None:
    session.status = StudySession.Status.COMPLETED
    session.ended_at = now
    session.queue = []


def _track_completed(session: StudySession) -> None:
    accuracy = session.accuracy
    track(
        "study_session_completed",
        user=session.student,
        mode=session.mode,
        cards=session.cards_studied,
        accuracy=round(accuracy, 3) if accuracy is not None else None,
        session_id=session.pk,
    )
    if session.mode == Mode.TEST:
        track("test_completed", user=session.student, score=session.score, cards=session.cards_studied)


def session_end(*, student: User, session_id: object, now: datetime | None = None) -> StudySession:
    """Finish a session (the student stopped, or the queue ran out). Ending an
    already ended session changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        session = get_session_for(student, session_id, lock=True)
        _expire_if_idle(session, now)
        if session.status != StudySession.Status.ACTIVE:
            return session
        _complete(session, now)
        if session.answers_count:
            session.duration_seconds = max(0, int((session.last_activity_at - session.started_at).total_seconds()))
        session.save(update_fields=["status", "ended_at", "queue", "duration_seconds"])
    _track_completed(session)
    return session


# --- The end-of-session summary ------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    session: StudySession
    next_due_at: datetime | None
    due_tomorrow: int
    due_now: int  # already due (e.g. the session was ended early): "next due" is now
    leeches: list[CardState]
    wrong: list[Review]  # test mode: what was missed, with the expected answer


def session_summary(*, student: User, session: StudySession, now: datetime | None = None) -> Summary:
    now = now or timezone.now()
    _, day_end = local_day_bounds(student, now)
    upcoming = CardState.objects.filter(student=student).aggregate(
        next_due=Min("due_at", filter=Q(due_at__gt=now)),
        due_now=Count("id", filter=Q(due_at__lte=now)),
        tomorrow=Count("id", filter=Q(due_at__gte=day_end, due_at__lt=day_end + timedelta(days=1))),
    )
    leeches = list(
        CardState.objects.leeches()
        .filter(student=student, card_id__in=session.answered_ids)
        .select_related("card__deck")
        .order_by("-lapses")
    )
    wrong = []
    if session.mode == Mode.TEST:
        wrong = list(
            Review.objects.filter(session=session, correct=False).select_related("card").order_by("reviewed_at")
        )
    return Summary(session, upcoming["next_due"], upcoming["tomorrow"], upcoming["due_now"], leeches, wrong)
