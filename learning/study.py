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
- in both, each deck's scheduler decides (learning.schedulers): with SM-2
  with learning steps or FSRS (the default), a card in a learning step comes
  back when its step is due; with SM-2 as published, rule 7 holds: an answer
  below 4 sends the card back to the end of the session queue until it is
  answered 4 or more, and only the first answer in a session changes the
  schedule (re-drills are logged and change nothing);
- the next card is the learning card whose step is due first, else the next
  new/review card; when nothing else is left, learning cards due within 20
  minutes are shown early (learn ahead);
- the last answer of a session can be undone once: the card's state and the
  session's counters go back exactly and the review row is removed;
- cram (all cards, in order or shuffled), practice (weakest first) and test
  (N random cards, typed answers graded automatically) never change schedules.
"""

from __future__ import annotations

import functools
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Avg, Count, F, FilteredRelation, Min, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.html import strip_tags

from learning import answer_diff, scheduling, srs
from learning.access import (
    get_classroom_for,
    get_course_for,
    get_deck_for,
    get_lesson_for,
)
from learning.models import LEECH_LAPSES, Card, CardState, Classroom, Deck, Review, StudySession
from learning.schedulers import format_delay
from learning.schedulers.base import Memory
from learning.visibility import VisibleDecks, visible_decks
from lms import cache as lms_cache
from lms import rawsql
from lms.errors import Conflict, Unprocessable
from lms.tracking import track

if TYPE_CHECKING:
    from lms.models import User

Mode = StudySession.Mode
ScopeType = StudySession.Scope

IDLE_AFTER = timedelta(minutes=30)
LEARN_AHEAD = timedelta(minutes=20)
DEFAULT_TEST_SIZE = 20
DEFAULT_PRACTICE_SIZE = 20
MAX_SESSION_SIZE = 500
# The four answer buttons: label, quality, keyboard key.
BUTTONS = (("Again", 1, "1"), ("Hard", 3, "2"), ("Good", 4, "3"), ("Easy", 5, "4"))
# Typed test answers are logged with these qualities so averages stay comparable.
TEST_RIGHT_QUALITY = 5
TEST_WRONG_QUALITY = 1


# --- Time ---------------------------------------------------------------------


def day_start_offset() -> timedelta:
    """How far after midnight a study day starts (STUDY_DAY_START_HOUR, 4 am by default)."""
    return timedelta(hours=settings.STUDY_DAY_START_HOUR)


def study_day(user: User, now: datetime) -> date:
    """The student's study day at `now`: 2 am on Tuesday still counts as Monday."""
    return (now.astimezone(user.tzinfo) - day_start_offset()).date()


def local_day_bounds(user: User, now: datetime) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of the student's current study day, as aware
    datetimes: from the day-start hour in their time zone to the next one."""
    tz = user.tzinfo
    today = study_day(user, now)
    hour = time(settings.STUDY_DAY_START_HOUR)
    start = datetime.combine(today, hour, tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), hour, tzinfo=tz)
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
    time zone; only answers that changed a schedule count, and answers in
    learning steps count as neither (as in Anki)."""
    start, _ = local_day_bounds(user, now)
    rows = (
        Review.objects.filter(student=user, reviewed_at__gte=start, changed_schedule=True)
        .values("card__deck_id")
        .annotate(
            new=Count("id", filter=Q(status_before=CardState.Status.NEW)),
            reviewed=Count("id", filter=Q(status_before=CardState.Status.REVIEW)),
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


def review_queue_parts(user: User, scope: Scope, now: datetime) -> tuple[list[int], list[int]]:
    """Cards due by the end of the student's day, most overdue first: review
    cards capped per deck by what is left of today's review allowance, and
    cards in learning steps (never capped, as in Anki)."""
    done = studied_today_by_deck(user, now)
    _, day_end = local_day_bounds(user, now)
    rows = (
        CardState.objects.due_for(user, day_end)
        .filter(card__in=scope.cards.values("pk"))
        .values_list("card_id", "card__deck_id", "card__deck__reviews_per_day", "status")
    )
    left: dict[int, int] = {}
    queue, learning = [], []
    for card_id, deck_id, per_day, status in rows:
        if scheduling.in_steps(status):
            learning.append(card_id)
            continue
        if deck_id not in left:
            left[deck_id] = max(0, per_day - done.get(deck_id, (0, 0))[1])
        if left[deck_id] > 0:
            left[deck_id] -= 1
            queue.append(card_id)
    return queue, learning


def review_queue(user: User, scope: Scope, now: datetime) -> list[int]:
    queue, learning = review_queue_parts(user, scope, now)
    return queue + learning


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
    return grade_typed(card, typed)[0]


def grade_typed(card: Card, typed: str) -> tuple[bool, bool]:
    """(right, near miss): right when the typed answer matches the back (or
    one of its alternatives) once normalised, or is within the typo tolerance
    (TEST_TYPO_TOLERANCE, scaled to the answer's length): then near miss."""
    given = normalise_answer(typed)
    if not given:
        return False, False
    options = [normalise_answer(option) for option in expected_answers(card)]
    if given in options:
        return True, False
    tolerance = settings.TEST_TYPO_TOLERANCE
    if any(answer_diff.near_enough(given, option, tolerance) for option in options if option):
        return True, True
    return False, False


# --- Sessions ---------------------------------------------------------------------


def _expire_if_idle(session: StudySession, now: datetime) -> None:
    """An active session with no answer for 30 minutes is abandoned."""
    if session.status == StudySession.Status.ACTIVE and session.last_activity_at < now - IDLE_AFTER:
        session.status = StudySession.Status.ABANDONED
        session.ended_at = session.last_activity_at
        session.queue = []
        session.learning_ids = []
        session.save(update_fields=["status", "ended_at", "planned", "queue_head", "learning_ids"])


def expire_idle_sessions(*, now: datetime | None = None) -> int:
    """Abandon every session idle for 30 minutes (for a periodic job)."""
    now = now or timezone.now()
    return StudySession.objects.filter(status=StudySession.Status.ACTIVE, last_activity_at__lt=now - IDLE_AFTER).update(
        status=StudySession.Status.ABANDONED, ended_at=F("last_activity_at"), planned=[], queue_head=0
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
    visible_decks(student)  # warm the cache the study loop reads on every card
    try:
        session = _open_session(student=student, scope=scope, mode=mode, size=size, shuffle=shuffle, now=now)
    except IntegrityError:
        # A simultaneous start on the same mode and scope committed first (the
        # database allows one active session per student, mode and scope): that
        # session is the one this request wanted too.
        session = (
            StudySession.objects.filter(
                student=student, mode=mode, scope_type=scope.type, scope_id=scope.id, status=StudySession.Status.ACTIVE
            )
            .order_by("-id")
            .first()
        )
        if session is None:
            raise Conflict("Another session was being started at the same moment; try again.") from None
        return session
    track(
        "study_session_started",
        user=student,
        mode=mode,
        scope=scope.type,
        scope_id=scope.id,
        cards=session.cards_total,
    )
    return session


def _open_session(
    *, student: User, scope: Scope, mode: str, size: object, shuffle: bool, now: datetime
) -> StudySession:
    with transaction.atomic():
        StudySession.objects.filter(student=student, mode=mode, status=StudySession.Status.ACTIVE).update(
            status=StudySession.Status.ABANDONED, ended_at=now, planned=[], queue_head=0, learning_ids=[]
        )
        learning: list[int] = []
        if mode == Mode.LEARN:
            queue = learn_queue(student, scope, now)
        elif mode == Mode.REVIEW:
            queue, learning = review_queue_parts(student, scope, now)
        elif mode == Mode.CRAM:
            queue = cram_queue(scope, shuffle=shuffle, size=_parse_size(size, None))
        elif mode == Mode.PRACTICE:
            queue = practice_queue(student, scope, size=_parse_size(size, DEFAULT_PRACTICE_SIZE) or 0)
        else:
            queue = test_queue(scope, size=_parse_size(size, DEFAULT_TEST_SIZE) or 0)
        if not queue and not learning:
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
            learning_ids=learning,
            cards_total=len(queue) + len(learning),
            started_at=now,
            last_activity_at=now,
        )
    return session


EMPTY_SCOPE_MESSAGE = "There are no cards here yet: add some to the deck first."


def _nothing_message(mode: str) -> str:
    if mode == Mode.LEARN:
        return "No new cards left here today: you have met them all or reached the daily limit."
    if mode == Mode.REVIEW:
        return "Nothing is due here right now. Well done!"
    return "There are no cards here to study yet."


@functools.cache
def _session_sql() -> str:
    return (
        f"SELECT {rawsql.columns(StudySession, 's')} FROM {rawsql.table(StudySession)} s"  # noqa: S608 - names are ours
        " WHERE s.id = %s AND s.student_id = %s"
    )


def get_session_for(student: User, pk: object, *, lock: bool = False) -> StudySession:
    """The student's own session or 404 (other people's sessions are hidden).

    Every next/ and answer/ runs this: one statement written out
    (lms.rawsql), not compiled by the ORM on each call."""
    try:
        value = int(pk)  # type: ignore[call-overload]
        if not 0 < value < 2**63:  # beyond any id; SQLite would overflow
            raise ValueError(value)
    except (TypeError, ValueError):
        raise Http404("No such study session.") from None
    row = rawsql.fetch_one(_session_sql() + (rawsql.for_update() if lock else ""), [value, student.pk])
    if row is None:
        raise Http404("No such study session.")
    return rawsql.build(StudySession, row)


@dataclass(frozen=True)
class Counts:
    """Anki's three numbers: what is left to see in the session."""

    new: int
    learning: int
    due: int

    def as_dict(self) -> dict[str, int]:
        return {"new": self.new, "learning": self.learning, "due": self.due}


def session_counts(session: StudySession) -> Counts | None:
    """New · learning · due left in a learn or review session (None for the
    modes that don't schedule). Read from the session row alone."""
    if not session.changes_schedules:
        return None
    waiting = len(session.queue)
    new = waiting if session.mode == Mode.LEARN else 0
    return Counts(new=new, learning=len(session.learning_ids), due=waiting - new)


@dataclass(frozen=True)
class NextCard:
    session: StudySession
    card: Card
    memory: Memory
    first_answer: bool
    previews: dict[int, str]  # quality -> what the button would do ("<10m", "6d", "again")
    idempotency_key: str
    position: int  # 1-based number of answers given so far + 1
    remaining: int
    is_leech: bool = False
    buttons: list[tuple[str, int, str, str]] = field(default_factory=list)
    delays: dict[int, timedelta] = field(default_factory=dict)
    counts: Counts | None = None
    recall: float | None = None
    can_edit: bool = False

    @property
    def schedule(self) -> srs.Schedule:
        return srs.Schedule(self.memory.repetitions, self.memory.interval, self.memory.ease)

    @property
    def can_undo(self) -> bool:
        return self.session.undo_review_id is not None

    @property
    def progress_percent(self) -> int:
        total = self.session.answers_count + self.remaining
        return round(100 * self.session.answers_count / total) if total else 100


def _changes_schedule(session: StudySession, deck: Deck, card_id: int) -> bool:
    """Whether answering this card now moves its schedule: the first answer in
    a learn/review session always does; on decks with learning steps, so does
    every answer to a card in its steps."""
    if not session.changes_schedules:
        return False
    if card_id not in session.answered_ids:
        return True
    return scheduling.uses_steps(deck) and card_id in session.learning_ids


def _previews(
    session: StudySession, card: Card, memory: Memory, now: datetime
) -> tuple[dict[int, str], dict[int, timedelta]]:
    if session.mode == Mode.TEST:
        return {}, {}
    if _changes_schedule(session, card.deck, card.pk):
        delays = scheduling.previews(card.deck, card.pk, memory, now)
        return {q: format_delay(d) for q, d in delays.items()}, delays
    if session.changes_schedules:
        # A re-drill: the schedule is already set for today; below 4 it comes back.
        return {q: ("again" if q < srs.REDRILL_BELOW else "done") for _, q, _ in BUTTONS}, {}
    return {q: "" for _, q, _ in BUTTONS}, {}


def _candidates(student: User, ids: list[int], decks: VisibleDecks) -> dict[int, Card]:
    return {card.pk: card for card in cards_to_study(student, ids) if decks.can_read(card.deck_id)}


# The student's state columns the study loop reads, annotated on the card as
# `state_<name>` (what `candidates_query` annotates, and _memory_of_annotated reads).
_STATE_COLUMNS = ["id", *scheduling.MEMORY_FIELDS]
_STATE_FIELDS = [CardState._meta.get_field(name) for name in _STATE_COLUMNS]


@functools.cache
def _cards_sql() -> str:
    state = ", ".join(f"st.{rawsql.quote(field.column)}" for field in _STATE_FIELDS)
    return (
        f"SELECT {rawsql.columns(Card, 'c')}, {rawsql.columns(Deck, 'd')}, {state}"  # noqa: S608 - names are ours
        f" FROM {rawsql.table(Card)} c INNER JOIN {rawsql.table(Deck)} d ON d.id = c.deck_id"
        f" LEFT OUTER JOIN {rawsql.table(CardState)} st ON st.card_id = c.id AND st.student_id = %s"
        " WHERE c.id IN"
    )


def cards_to_study(student: User, ids: list[int]) -> list[Card]:
    """`candidates_query` in one statement written out (lms.rawsql): the cards
    by primary key with their deck and the student's state joined in through
    the unique (student, card) pair. The study loop runs it on every next/ and
    answer/; compiling the ORM's form cost more CPU than the database spends
    on it. Not filtered by visibility: check each card's deck against
    `visible_decks(student)`."""
    if not ids:
        return []
    rows = rawsql.fetch_all(f"{_cards_sql()} ({', '.join(['%s'] * len(ids))})", [student.pk, *ids])
    deck_at = rawsql.width(Card)
    state_at = deck_at + rawsql.width(Deck)
    cards: list[Card] = []
    decks: dict[int, Deck] = {}
    for row in rows:
        card = rawsql.build(Card, row)
        if card.deck_id not in decks:  # the cards of one deck share its instance
            decks[card.deck_id] = rawsql.build(Deck, row, deck_at)
        card.deck = decks[card.deck_id]
        values = rawsql.convert(_STATE_FIELDS, row[state_at:])
        for name, value in zip(_STATE_COLUMNS, values, strict=True):
            setattr(card, f"state_{name}", value)
        cards.append(card)
    return cards


def candidates_query(student: User, ids: list[int]) -> QuerySet[Card]:
    """The cards with their deck and schedule, in one query by primary key:
    the state joins in through the unique (student, card) pair, so it adds at
    most one row per card. Not filtered by visibility: check each card's deck
    against `visible_decks(student)` (a cached set, no joins)."""
    return (
        Card.objects.select_related("deck")
        .annotate(mine=FilteredRelation("states", condition=Q(states__student=student)))
        .annotate(
            state_id=F("mine__id"),
            **{f"state_{name}": F(f"mine__{name}") for name in scheduling.MEMORY_FIELDS},
        )
        .filter(pk__in=ids)
        .order_by()  # picked in Python (_pick): no sort
    )


def _memory_of_annotated(card: Card) -> Memory:
    return scheduling.memory_of(card if card.state_id is not None else None, prefix="state_")


def _pick(session: StudySession, cards: dict[int, Card], now: datetime) -> Card | None:
    """The learning card whose step is due first; else the head of the queue;
    else (learn ahead) a learning card due within 20 minutes."""
    stepping = [
        cards[c]
        for c in session.learning_ids
        if c in cards and cards[c].state_due_at is not None and scheduling.in_steps(cards[c].state_status or "")
    ]
    stepping.sort(key=lambda card: card.state_due_at)
    if stepping and stepping[0].state_due_at <= now:
        return stepping[0]
    if session.queue and session.queue[0] in cards:
        return cards[session.queue[0]]
    if stepping and stepping[0].state_due_at <= now + LEARN_AHEAD:
        return stepping[0]
    return None


def session_next(
    *, student: User, session: StudySession, now: datetime | None = None, decks: VisibleDecks | None = None
) -> NextCard | None:
    """The next card (see the module's rules), or None when the session is
    over (the session is then completed). `decks`: the student's visible
    decks when the caller has just read them (an answer, for the card after it)."""
    now = now or timezone.now()
    _expire_if_idle(session, now)
    if session.status != StudySession.Status.ACTIVE:
        return None
    decks = decks if decks is not None else visible_decks(student)  # one cache read for the permission checks below
    while session.queue or session.learning_ids:
        wanted = [*session.queue[:1], *session.learning_ids]
        cards = _candidates(student, wanted, decks)
        missing = [c for c in wanted if c not in cards]
        if missing:
            # Deleted or hidden since the session started: skip them.
            session.queue = [c for c in session.queue if c not in missing]
            session.learning_ids = [c for c in session.learning_ids if c not in missing]
            session.save(update_fields=["planned", "queue_head", "learning_ids"])
            continue
        card = _pick(session, cards, now)
        if card is None:
            break  # only learning cards left, due later than learn-ahead allows
        memory = _memory_of_annotated(card)
        first = card.pk not in session.answered_ids
        previews, delays = _previews(session, card, memory, now)
        return NextCard(
            session=session,
            card=card,
            memory=memory,
            first_answer=first or card.pk in session.learning_ids,
            previews=previews,
            delays=delays,
            idempotency_key=uuid.uuid4().hex,
            position=session.answers_count + 1,
            remaining=len(session.queue) + len(session.learning_ids),
            is_leech=memory.lapses >= LEECH_LAPSES,
            buttons=[(label, q, key, previews.get(q, "")) for label, q, key in BUTTONS],
            counts=session_counts(session),
            recall=scheduling.recall(card.deck, memory, now) if session.mode != Mode.TEST else None,
            can_edit=decks.can_edit(card.deck_id),
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
    recall: float | None = None
    # The student's visible decks as the answer read them: the card after it
    # is checked against the same set without reading the cache again.
    decks: VisibleDecks | None = None

    @property
    def interval(self) -> int:
        return self.review.interval_after

    def as_dict(self) -> dict:
        review = self.review
        counts = session_counts(self.session)
        return {
            "review": review.pk,
            "card": review.card_id,
            "quality": review.quality,
            "correct": self.correct,
            "near_miss": review.near_miss,
            "expected": self.expected,
            "changed_schedule": review.changed_schedule,
            "schedule": {
                "repetitions": review.repetitions_after,
                "interval": review.interval_after,
                "ease": review.ease_after,
            },
            "state": {
                "status": review.status_after or None,
                "step": review.step_after,
                "due_at": review.due_after.isoformat() if review.due_after else None,
                "interval": review.interval_after,
                "ease": review.ease_after,
                "stability": review.stability_after,
                "difficulty": review.difficulty_after,
                "recall": self.recall,
            },
            "counts": counts.as_dict() if counts else None,
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
        redrill=review.mode in (Mode.LEARN, Mode.REVIEW)
        and review.quality < srs.REDRILL_BELOW
        and review.card_id in session.queue,
        done=session.status != StudySession.Status.ACTIVE,
        replayed=True,
    )


# What one scheduled answer changes on a CardState.
SCHEDULE_FIELDS = scheduling.STATE_FIELDS


def apply_answer(state: CardState, quality: int, now: datetime, *, deck: Deck) -> tuple[Memory, Memory]:
    """Move `state` on by one answer that counts for its schedule (not saved),
    with the deck's scheduler. The study service and the demo history both go
    through here."""
    before = scheduling.memory_of(state)
    after = scheduling.scheduler_of(deck).answer(before, quality, now, seed=scheduling.fuzz_seed(state.card_id, before))
    scheduling.store(state, after)
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
    before: Memory,
    after: Memory,
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
        status_after=after.state if changed_schedule else "",
        step_after=after.step if changed_schedule else None,
        due_after=after.due if changed_schedule else None,
        stability_after=after.stability,
        difficulty_after=after.difficulty,
        changed_schedule=changed_schedule,
        **extra,
    )


# The session fields an answer changes, which Undo puts back. The plan and
# the answered ids can be thousands of ids long: the snapshot keeps the plan
# only when an answer rewrote it (a re-drill, an answer off the head, the end
# of the session) and the number of answered ids (an answer only appends).
SESSION_UNDO_FIELDS = [
    "queue_head",
    "learning_ids",
    "first_correct_count",
    "answers_count",
    "correct_count",
    "redrill_count",
    "score",
    "last_activity_at",
    "duration_seconds",
    "status",
    "ended_at",
]
# What every answer writes to the session row (the lists only when they change).
SESSION_SCALAR_FIELDS = [name for name in SESSION_UNDO_FIELDS if name != "learning_ids"]


def _session_snapshot(session: StudySession) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in SESSION_UNDO_FIELDS:
        value = getattr(session, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    out["answered_len"] = len(session.answered_ids)
    return out


def _restore_session(session: StudySession, saved: dict[str, Any]) -> None:
    """Put back what `_session_snapshot` kept (older snapshots held the whole
    `queue` and `answered_ids`: setting those still works)."""
    for name, value in saved.items():
        if name == "answered_len":
            session.answered_ids = session.answered_ids[:value]
            continue
        if name in ("last_activity_at", "ended_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)
        setattr(session, name, value)


LEECH_TAG = "leech"


def _tag_leech(card: Card) -> bool:
    """Add the `leech` tag to the card (once); True when this answer added it."""
    tags = card.tag_list
    if LEECH_TAG in tags:
        return False
    card.tags = " ".join([*tags, LEECH_TAG])[:500]
    Card.objects.filter(pk=card.pk).update(tags=card.tags)
    return True


def _replay_of(student: User, idempotency_key: str, session: StudySession, card_id: int) -> AnswerResult | None:
    """The answer already recorded under this key, replayed (None when there is none)."""
    if not idempotency_key:
        return None
    # One indexed lookup (the unique (student, key) pair); no sort.
    existing = (
        Review.objects.filter(student=student, idempotency_key=idempotency_key)
        .select_related("card")
        .order_by()
        .first()
    )
    return _replay(existing, session, card_id) if existing is not None else None


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
    decks: VisibleDecks | None = None,
) -> AnswerResult:
    """Record one answer. Idempotent per key; row locks keep two simultaneous
    answers for the same card (or session) from corrupting either. `decks`:
    the student's visible decks when the caller has just read them (the API
    view, with the throttle's Redis call); otherwise they are read here.

    The key is looked up only when the answer cannot go through as sent (the
    first one may have ended the session or moved the card on) or when the
    review's INSERT hits the unique (student, key) pair: a plain answer costs
    no lookup. A first answer that loses the race to create the card's state
    is rolled back and run again against the winner's row."""
    now = now or timezone.now()
    idempotency_key = (idempotency_key or "").strip()
    if len(idempotency_key) > 64:
        raise ValidationError({"idempotency_key": "At most 64 characters."})
    response_ms = _parse_response_ms(response_ms)
    for attempt in (1, 2):
        try:
            # Nothing in the answer's transaction reads a cached figure after
            # writing: its invalidations go in one cache call after the commit.
            with lms_cache.atomic_invalidating_at_commit():
                result = _answer_locked(
                    student=student,
                    session_id=session_id,
                    card_id=card_id,
                    quality=quality,
                    answer=answer,
                    response_ms=response_ms,
                    idempotency_key=idempotency_key,
                    now=now,
                    decks=decks,
                )
            break
        except IntegrityError:
            # The same key committed by a simultaneous request (it held the
            # session lock first), or a simultaneous first answer to this card
            # created its state: all of ours is rolled back.
            with transaction.atomic():
                session = get_session_for(student, session_id, lock=True)
                replay = _replay_of(student, idempotency_key, session, int(str(card_id)))
            if replay is not None:
                return replay
            if attempt == 2:
                raise
    if result.replayed:
        return result
    track(
        "review_submitted",
        user=student,
        mode=result.session.mode,
        quality=result.review.quality,
        card_id=result.review.card_id,
    )
    if result.done:
        _track_completed(result.session)
    return result


@functools.cache
def _card_state_sql(lateral: bool) -> str:
    card, deck = rawsql.columns(Card, "c"), rawsql.columns(Deck, "d")
    state = rawsql.columns(CardState, "st")
    joined = f"{rawsql.table(Card)} c INNER JOIN {rawsql.table(Deck)} d ON d.id = c.deck_id"
    if lateral:
        # The state locked in the same statement: FOR UPDATE is not allowed
        # on the nullable side of an outer join, but it is inside a LATERAL
        # subquery (the row may not exist yet: a first answer).
        inner = rawsql.columns(CardState, "x")
        return (
            f"SELECT {card}, {deck}, {state} FROM {joined}"  # noqa: S608 - names are ours
            f" LEFT JOIN LATERAL (SELECT {inner} FROM {rawsql.table(CardState)} x"
            " WHERE x.student_id = %s AND x.card_id = c.id FOR UPDATE) st ON TRUE WHERE c.id = %s"
        )
    return (
        f"SELECT {card}, {deck}, {state} FROM {joined}"  # noqa: S608 - names are ours
        f" LEFT OUTER JOIN {rawsql.table(CardState)} st ON st.card_id = c.id AND st.student_id = %s WHERE c.id = %s"
    )


def _card_and_state_for(student: User, card_id: object, decks: VisibleDecks) -> tuple[Card, CardState | None]:
    """`get_card_to_study_for` (404 when missing or hidden) and the student's
    state of the card, locked where there are row locks: one statement
    instead of two on every answer (SQLite, which locks the whole file on
    write, joins the state without a lock)."""
    try:
        value = int(card_id)  # type: ignore[call-overload]
        if not 0 < value < 2**63:
            raise ValueError(value)
    except (TypeError, ValueError):
        raise Http404(f"No card {card_id!r} for this user.") from None
    row = rawsql.fetch_one(_card_state_sql(connection.features.has_select_for_update), [student.pk, value])
    deck_at = rawsql.width(Card)
    if row is None or not decks.can_read(row[_CARD_DECK_AT]):
        raise Http404(f"No card {card_id!r} for this user.")
    card = rawsql.build(Card, row)
    card.deck = rawsql.build(Deck, row, deck_at)
    state_at = deck_at + rawsql.width(Deck)
    state = rawsql.build(CardState, row, state_at) if row[state_at] is not None else None
    return card, state


_CARD_DECK_AT = [field.attname for field in Card._meta.concrete_fields].index("deck_id")


@functools.cache
def _session_card_state_sql() -> str:
    """The session locked, then the card with its deck and the student's
    state of it, locked too: what `get_session_for(lock=True)` and
    `_card_and_state_for` read, in one statement (PostgreSQL).

    The order of the locks is the two statements' order: the session in a
    MATERIALIZED CTE, the card and state in a LATERAL subquery that reads the
    session's row (its student), so it runs only once that row is locked;
    every path that locks both (another answer, Undo) takes the session first."""
    card, deck = rawsql.columns(Card, "c"), rawsql.columns(Deck, "d")
    state, inner = rawsql.columns(CardState, "st"), rawsql.columns(CardState, "x")
    return (
        f"WITH s AS MATERIALIZED ({_session_sql()}{rawsql.for_update()})"  # noqa: S608 - names are ours
        f" SELECT s.*, cs.* FROM s LEFT JOIN LATERAL (SELECT {card}, {deck}, {state}"
        f" FROM {rawsql.table(Card)} c INNER JOIN {rawsql.table(Deck)} d ON d.id = c.deck_id"
        f" LEFT JOIN LATERAL (SELECT {inner} FROM {rawsql.table(CardState)} x"
        " WHERE x.student_id = s.student_id AND x.card_id = c.id FOR UPDATE) st ON TRUE"
        " WHERE c.id = %s) cs ON TRUE"
    )


def _session_card_and_state_for(
    student: User, session_id: object, card_id: object, decks: VisibleDecks | None
) -> tuple[StudySession, VisibleDecks, Card, CardState | None]:
    """The answer's reads, both locked: the session (404 when it is not the
    student's), the visible decks (`decks` when the caller read them), the card
    (404 when missing or hidden) and its state. One statement where there are
    row locks and both ids are sane; otherwise the two statements, in the same
    order, with the same errors."""
    card_pk = _sane_id(card_id)
    session_pk = _sane_id(session_id)
    if not connection.features.has_select_for_update or card_pk is None or session_pk is None:
        session = get_session_for(student, session_id, lock=True)
        decks = decks if decks is not None else visible_decks(student)
        return (session, decks, *_card_and_state_for(student, card_id, decks))
    row = rawsql.fetch_one(_session_card_state_sql(), [session_pk, student.pk, card_pk])
    if row is None:
        raise Http404("No such study session.")
    decks = decks if decks is not None else visible_decks(student)
    card_at = rawsql.width(StudySession)
    if row[card_at] is None or not decks.can_read(row[card_at + _CARD_DECK_AT]):
        raise Http404(f"No card {card_id!r} for this user.")
    deck_at = card_at + rawsql.width(Card)
    state_at = deck_at + rawsql.width(Deck)
    card = rawsql.build(Card, row, card_at)
    card.deck = rawsql.build(Deck, row, deck_at)
    state = rawsql.build(CardState, row, state_at) if row[state_at] is not None else None
    return rawsql.build(StudySession, row), decks, card, state


def _sane_id(value: object) -> int | None:
    """A primary key as the reads above accept it, or None."""
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def _answer_locked(
    *,
    student: User,
    session_id: object,
    card_id: object,
    quality: object,
    answer: str | None,
    response_ms: int | None,
    idempotency_key: str,
    now: datetime,
    decks: VisibleDecks | None,
) -> AnswerResult:
    # The session row lock serialises answers within a session, so a
    # retried request sees the first one's review below.
    session, decks, card, state = _session_card_and_state_for(student, session_id, card_id, decks)
    if (
        session.status != StudySession.Status.ACTIVE
        or session.last_activity_at < now - IDLE_AFTER
        or (card.pk not in session.queue and card.pk not in session.learning_ids)
    ):
        replay = _replay_of(student, idempotency_key, session, card.pk)
        if replay is not None:
            return replay
        _expire_if_idle(session, now)
        if session.status != StudySession.Status.ACTIVE:
            raise Conflict("This study session has ended.", code="session_not_active")
        raise Unprocessable("This card is not waiting in this session.", code="card_not_in_session")

    try:
        if session.mode == Mode.TEST:
            if answer is None or not str(answer).strip():
                raise ValidationError({"answer": "Type an answer."})
            typed = str(answer)[:500]
            correct, near_miss = grade_typed(card, typed)
            quality = TEST_RIGHT_QUALITY if correct else TEST_WRONG_QUALITY
        else:
            try:
                quality = srs.validate_quality(_as_int(quality))
            except ValueError as exc:
                raise ValidationError({"quality": str(exc)}) from None
            typed = ""
            near_miss = False
            correct = quality >= srs.PASSING_QUALITY
    except ValidationError:
        replay = _replay_of(student, idempotency_key, session, card.pk)
        if replay is not None:
            return replay
        raise

    deck = card.deck
    first = card.pk not in session.answered_ids
    changes = _changes_schedule(session, deck, card.pk)
    undo: dict[str, Any] = {"session": _session_snapshot(session)}
    undo["state"] = scheduling.snapshot(state)
    # A first answer inserts the state it computes (one INSERT); a
    # simultaneous first answer elsewhere makes it an IntegrityError, and the
    # caller runs the answer again against that row.
    created = state is None and changes
    if created:
        state = CardState(student=student, card=card, due_at=now, ease=srs.START_EASE)
    status_before = state.status if state and not created else CardState.Status.NEW
    recall = None
    if changes:
        recall = scheduling.recall(deck, scheduling.memory_of(state), now)
        before, after = apply_answer(state, quality, now, deck=deck)
        if after.lapses >= LEECH_LAPSES > before.lapses:
            undo["tagged_leech"] = _tag_leech(card)
            if deck.leech_action == Deck.LeechAction.SUSPEND:
                state.suspended = True
    else:
        before = after = scheduling.memory_of(state)

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
    review.near_miss = near_miss

    planned_before = session.planned
    fields = [*SESSION_SCALAR_FIELDS, "undo_review", "undo_snapshot"]
    head, plan = session.queue_head, session.planned
    if head < len(plan) and plan[head] == card.pk and card.pk not in plan[head + 1 :]:
        session.queue_head = head + 1  # the usual case: only the cursor moves
    elif card.pk in plan[head:]:
        session.queue = [c for c in session.queue if c != card.pk]
    learning = [c for c in session.learning_ids if c != card.pk]
    redrill = False
    if changes and scheduling.uses_steps(deck):
        if scheduling.in_steps(state.status) and not state.suspended:
            learning.append(card.pk)  # back when its step is due
    elif session.changes_schedules and quality < srs.REDRILL_BELOW:
        # Rule 7 (SM-2 as published): again at the end, until it sticks.
        session.queue = [*session.queue, card.pk]
        redrill = True
        session.redrill_count += 1
    if learning != session.learning_ids:
        session.learning_ids = learning
        fields.append("learning_ids")
    if first:
        session.answered_ids = [*session.answered_ids, card.pk]
        fields.append("answered_ids")
        session.first_correct_count += int(correct)
    session.answers_count += 1
    session.correct_count += int(correct)
    if session.mode == Mode.TEST:
        session.score = round(100 * session.first_correct_count / len(session.answered_ids), 1)
    session.last_activity_at = now
    session.duration_seconds = max(0, int((now - session.started_at).total_seconds()))
    session.undo_review = review
    session.undo_snapshot = undo
    done = not session.queue and not learning
    if done:
        _complete(session, now)
    if session.planned is not planned_before:
        undo["session"]["planned"] = planned_before
        fields.append("planned")
    # The state, the review and the session in one statement on PostgreSQL
    # (lms.rawsql.write_together; the session's undo_review takes the new
    # review's id inside it), with save()'s signals: class progress follows
    # the review rows, the session's post_save drops the cached dashboard.
    # Written out: the ORM's INSERT/UPDATE compile cost more worker CPU than
    # the statements themselves, and each was a round trip of its own.
    inserts: list[CardState | Review] = [state] if created else []
    updates: list[tuple[CardState | StudySession, list[str]]] = (
        [(state, SCHEDULE_FIELDS)] if changes and not created else []
    )
    rawsql.write_together(inserts=[*inserts, review], updates=[*updates, (session, fields)])
    return AnswerResult(
        review=review,
        session=session,
        correct=correct,
        expected=strip_tags(card.back) if session.mode == Mode.TEST else "",
        redrill=redrill,
        done=done,
        recall=recall,
        decks=decks,
    )


@dataclass(frozen=True)
class UndoResult:
    session: StudySession
    card_id: int | None
    quality: int

    def as_dict(self) -> dict[str, Any]:
        counts = session_counts(self.session)
        return {
            "undone": True,
            "card": self.card_id,
            "quality": self.quality,
            "counts": counts.as_dict() if counts else None,
            "session_status": self.session.status,
        }


def review_override(*, student: User, session_id: object, review_id: object, now: datetime | None = None) -> Review:
    """ "I was right": the student turns a wrong test answer into a right one.
    The answer keeps what was typed and records when it was overridden, the
    session's score follows, and the teacher sees every override (class
    progress pages). Test answers only, and only the student's own."""
    now = now or timezone.now()
    with transaction.atomic():
        session = get_session_for(student, session_id, lock=True)
        if session.mode != Mode.TEST:
            raise Unprocessable("Only test answers can be marked right.", code="not_a_test")
        text = str(review_id if review_id is not None else "").strip()
        pk = int(text) if text.isdigit() and len(text) < 19 else None
        review = Review.objects.select_for_update().filter(pk=pk, session=session).first() if pk else None
        if review is None:
            raise Unprocessable("No such answer in this test.", code="review_not_in_session")
        if review.correct:
            raise Conflict("This answer already counts as right.", code="already_right")
        review.correct = True
        review.quality = TEST_RIGHT_QUALITY
        review.overridden_at = now
        review.save(update_fields=["correct", "quality", "overridden_at"])
        # Every test answer is a card's first (tests do not re-drill).
        session.correct_count += 1
        session.first_correct_count += 1
        if session.answered_ids:
            session.score = round(100 * session.first_correct_count / len(session.answered_ids), 1)
        session.save(update_fields=["correct_count", "first_correct_count", "score"])
    track("test_answer_overridden", user=student, session_id=session.pk, card_id=review.card_id)
    return review


def session_undo(*, student: User, session_id: object, now: datetime | None = None) -> UndoResult:
    """Take back the session's last answer: the card's state as it was, the
    review row gone, the session's counters and queue as before. Once per
    answer: a second undo finds nothing to undo (409) and changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        session = get_session_for(student, session_id, lock=True)
        review = None
        if session.undo_review_id is not None:
            review = Review.objects.filter(pk=session.undo_review_id, session=session, student=student).first()
        saved = session.undo_snapshot
        if review is None or not saved:
            raise Conflict("There is no answer to undo.", code="nothing_to_undo")
        # The answer may have finished the session (undo reopens it); a
        # session the student ended, or that went idle, stays closed.
        finished_by_it = session.status == StudySession.Status.COMPLETED and session.ended_at == review.reviewed_at
        if session.status != StudySession.Status.ACTIVE and not finished_by_it:
            raise Conflict("This study session has ended.", code="session_not_active")
        if review.changed_schedule and review.card_id is not None:
            state = CardState.objects.select_for_update().filter(student=student, card_id=review.card_id).first()
            if state is not None and saved.get("state") is None:
                state.delete()
            elif state is not None:
                scheduling.restore(state, saved["state"])
                state.save(update_fields=SCHEDULE_FIELDS)
        if saved.get("tagged_leech") and review.card_id is not None:
            card = Card.objects.filter(pk=review.card_id).only("tags").first()
            if card is not None:
                Card.objects.filter(pk=card.pk).update(tags=" ".join(t for t in card.tag_list if t != LEECH_TAG))
        _restore_session(session, saved["session"])
        session.undo_review = None
        session.undo_snapshot = None
        session.save(update_fields=[*SESSION_UNDO_FIELDS, "planned", "answered_ids", "undo_review", "undo_snapshot"])
        card_id, quality = review.card_id, review.quality
        Review.objects.filter(pk=review.pk).delete()
    track("review_undone", user=student, mode=session.mode, quality=quality, card_id=card_id)
    return UndoResult(session=session, card_id=card_id, quality=quality)


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
        session.save(update_fields=["status", "ended_at", "planned", "queue_head", "duration_seconds"])
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
    by_button: list[tuple[str, int]] = field(default_factory=list)  # (label, answers)
    seconds_per_card: float | None = None
    answer_seconds: float | None = None  # average time to answer, from response_ms
    learning_left: int = 0  # cards still in learning steps (they come back later)


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
    answers = Review.objects.filter(session=session).aggregate(
        again=Count("id", filter=Q(quality__lt=3)),
        hard=Count("id", filter=Q(quality=3)),
        good=Count("id", filter=Q(quality=4)),
        easy=Count("id", filter=Q(quality=5)),
        response=Avg("response_ms"),
        response_total=Sum("response_ms"),
    )
    by_button = [] if session.mode == Mode.TEST else [(label, answers[label.lower()]) for label, _, _ in BUTTONS]
    cards = session.cards_studied
    seconds_per_card = session.duration_seconds / cards if cards and session.duration_seconds else None
    if seconds_per_card is None and cards and answers["response_total"]:
        seconds_per_card = answers["response_total"] / 1000 / cards
    return Summary(
        session,
        upcoming["next_due"],
        upcoming["tomorrow"],
        upcoming["due_now"],
        leeches,
        wrong,
        by_button=by_button,
        seconds_per_card=seconds_per_card,
        answer_seconds=answers["response"] / 1000 if answers["response"] is not None else None,
        learning_left=len(session.learning_ids),
    )
