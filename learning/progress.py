"""Progress reads: the student dashboard and a teacher's class progress.

Every figure comes from a handful of grouped queries (per student, per deck,
per card, per day), so the number of queries does not grow with the number of
students, decks or cards; Python only folds the grouped rows together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import (
    Avg,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from learning import grace, visibility
from learning.models import (
    LEECH_LAPSES,
    MASTERED_INTERVAL,
    Card,
    CardState,
    Classroom,
    Deck,
    Enrollment,
    Review,
    StudySession,
    cards_deleted,
    study_rows_deleting,
)
from learning.study import day_start_offset, local_day_bounds, study_day
from lms import cache as lms_cache
from lms.models import User
from lms.signals import user_deleting

FORECAST_DAYS = 30
HEATMAP_DAYS = 365
BEHIND_BACKLOG = 20
BEHIND_IDLE_DAYS = 7
HARDEST_PER_DECK = 5
# How long a student's or a card's change token lives (class progress); a
# token gone only makes its figures read again.
FIGURE_TOKEN_SECONDS = 24 * 3600
CARD_BUCKETS = 64
# In the key of the cached class figures: an entry of another shape (a server
# of the previous release, during a deploy) is never read.
FIGURES_FORMAT = 2


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def study_day_of(field: str, tz: object) -> TruncDate:
    """The study day (it starts at STUDY_DAY_START_HOUR, 4 am) of a datetime
    column in a time zone, computed in the database."""
    shifted = ExpressionWrapper(F(field) - day_start_offset(), output_field=DateTimeField())
    return TruncDate(shifted, tzinfo=tz)


def streaks(days: set[date], today: date, lost: set[date] = frozenset()) -> tuple[int, int]:
    """(current, longest) runs of consecutive study days. Today not studied
    yet does not break the current streak: it is still alive until the next
    study day starts (4 am by default).
    A day in `lost` (our outage or maintenance, learning.grace) that was not
    studied neither breaks a run nor adds to it."""

    def bridged(previous: date, day: date) -> bool:
        gap = previous + timedelta(days=1)
        while gap < day:
            if gap not in lost:
                return False
            gap += timedelta(days=1)
        return True

    longest = run = 0
    previous = None
    for day in sorted(days):
        run = run + 1 if previous is not None and bridged(previous, day) else 1
        longest = max(longest, run)
        previous = day
    current = 0
    cursor = today if today in days else today - timedelta(days=1)
    while cursor in days or (cursor in lost and _reaches_study_day(cursor, days, lost)):
        current += cursor in days
        cursor -= timedelta(days=1)
    return current, longest


def _reaches_study_day(cursor: date, days: set[date], lost: set[date]) -> bool:
    """Whether a run of lost days starting at `cursor` (going back) ends on a study day."""
    while cursor in lost and cursor not in days:
        cursor -= timedelta(days=1)
    return cursor in days


# --- Student dashboard ----------------------------------------------------------------


class _Mastery:
    """`mastery` and `mastery_percent` from `mastered` out of `mastery_out_of`:
    the share of cards with an interval of MASTERED_INTERVAL days or more."""

    mastered: int

    @property
    def mastery_out_of(self) -> int:
        raise NotImplementedError

    @property
    def mastery(self) -> float | None:
        return _share(self.mastered, self.mastery_out_of)

    @property
    def mastery_percent(self) -> int:
        return round(100 * (self.mastery or 0))


@dataclass
class DeckProgress(_Mastery):
    deck: Deck
    total: int
    studied: int = 0
    mastered: int = 0
    due: int = 0
    leeches: int = 0

    @property
    def mastery_out_of(self) -> int:
        return self.total

    def as_dict(self) -> dict:
        return {
            "id": self.deck.pk,
            "title": self.deck.title,
            "cards": self.total,
            "studied": self.studied,
            "mastered": self.mastered,
            "mastery": self.mastery,
            "due": self.due,
            "leeches": self.leeches,
        }


# Decks in the dashboard's table; the rest on "All decks" (deck_progress).
DASHBOARD_DECKS = 8


@dataclass
class Dashboard:
    today: date
    due_today: int
    new_available: int
    forecast: list[tuple[date, int]]
    reviews_by_day: dict[date, int]
    current_streak: int
    longest_streak: int
    decks: list[DeckProgress]
    retention: float | None
    retention_reviews: int
    retention_30d: float | None
    total_reviews: int
    reviews_today: int
    seconds_studied: int
    seconds_studied_7d: int
    recent_sessions: list[StudySession]
    active_session: StudySession | None
    leeches: list[CardState] = field(default_factory=list)
    # The page's figures (charts, tables) as rendered HTML, kept with the data
    # in the cache so the page renders them once per change, not per view.
    html: str = ""

    @property
    def decks_first(self) -> list[DeckProgress]:
        """The dashboard's few decks: those with cards due (most first), then
        those begun and not yet mastered, then the rest; each group in the
        classes' own order."""

        def rank(pair: tuple[int, DeckProgress]) -> tuple[int, bool, int]:
            index, row = pair
            return -row.due, not (row.studied and row.mastered < row.total), index

        return [row for _, row in sorted(enumerate(self.decks), key=rank)[:DASHBOARD_DECKS]]

    def as_dict(self) -> dict:
        start = self.today - timedelta(days=HEATMAP_DAYS - 1)
        return {
            "today": self.today.isoformat(),
            "due_today": self.due_today,
            "new_available": self.new_available,
            "forecast": [{"date": d.isoformat(), "due": n} for d, n in self.forecast],
            "reviews_by_day": [
                {"date": d.isoformat(), "reviews": n} for d, n in sorted(self.reviews_by_day.items()) if d >= start
            ],
            "streak": {"current": self.current_streak, "longest": self.longest_streak},
            "decks": [p.as_dict() for p in self.decks],
            "retention": self.retention,
            "retention_reviews": self.retention_reviews,
            "retention_30d": self.retention_30d,
            "total_reviews": self.total_reviews,
            "reviews_today": self.reviews_today,
            "seconds_studied": self.seconds_studied,
            "seconds_studied_7d": self.seconds_studied_7d,
            "leeches": [
                {"card": s.card_id, "deck": s.card.deck_id, "front": s.card.front, "lapses": s.lapses}
                for s in self.leeches
            ],
            "recent_tests": [
                {"session": s.pk, "score": s.score, "scope": s.scope_title, "ended_at": s.ended_at}
                for s in self.recent_sessions
                if s.mode == StudySession.Mode.TEST and s.status == StudySession.Status.COMPLETED
            ],
        }


# --- The dashboard cache ---------------------------------------------------------
#
# A student's dashboard is read far more often than it changes: it is kept per
# student and dropped whenever something of theirs moves (a session saved on
# each answer, undo, start and end; a schedule or review row deleted; an
# enrolment). Changes that touch many students at once make every entry stale
# through shared tokens read in the same round trip: visibility's generation
# (classes, courses, lessons, decks) and the content token below (cards).
# Entries also carry the study day and expire after DASHBOARD_CACHE_SECONDS,
# which bounds what nothing signals (bulk imports, grace windows).

CONTENT_KEY = "learning:dashboard:content"


def _dashboard_key(user_id: int) -> str:
    return f"learning:dashboard:{user_id}"


def forget_dashboard(user_id: int) -> None:
    """Drop one student's cached dashboard (now and again after the commit,
    together with the transaction's other cache writes)."""
    lms_cache.invalidate(delete=[_dashboard_key(user_id)])


def _content_changed(sender: type, **kwargs: object) -> None:
    lms_cache.invalidate(bump=[CONTENT_KEY])


def _class_token_key(classroom_id: int) -> str:
    return f"learning:class-progress:{classroom_id}:token"


def forget_class_progress(classroom_ids: list[int]) -> None:
    """Make the cached progress of these classes stale (now and after
    commit): read again whole at the next view."""
    if classroom_ids:
        lms_cache.invalidate(bump=[_class_token_key(pk) for pk in classroom_ids])


def _student_token_key(student_id: int) -> str:
    return f"learning:class-progress:student:{student_id}"


def _card_bucket(card_id: int) -> int:
    """Cards share change tokens by bucket: a view reads CARD_BUCKETS tokens,
    not one per card (3,000 in a large class), and an answer makes the few
    dozen cards of its bucket read again."""
    return card_id % CARD_BUCKETS


def _card_token_key(bucket: int) -> str:
    return f"learning:class-progress:cards:{bucket}"


def _figure_token_keys(student_id: int, card_id: int | None) -> list[str]:
    keys = [_student_token_key(student_id)]
    if card_id is not None:
        keys.append(_card_token_key(_card_bucket(card_id)))
    return keys


FRESH_TOKENS = "class-figures-fresh"  # lms.cache.CommitWrites.notes: moved now and not read since


def forget_class_figures(student_id: int, card_id: int | None) -> None:
    """One student's figures and one card's difficulty changed (an answer,
    an undo, an override, a schedule deleted): every class that shows them
    reads them again at its next view. The tokens move now (a view later in
    the same transaction sees the change) and again after the commit (a view
    that read the old rows meanwhile keeps them no longer), each token once
    per transaction however many rows it deletes, the latter in the
    transaction's one after-commit cache call (lms.cache)."""
    _forget_figures(set(_figure_token_keys(student_id, card_id)))


def _forget_figures(keys: set[str]) -> None:
    """Move these figure tokens (see `forget_class_figures`)."""
    lms_cache.invalidate(bump=keys, bump_timeout=FIGURE_TOKEN_SECONDS, now=False)  # at once outside a transaction
    if not transaction.get_connection().in_atomic_block or not lms_cache.invalidate_now():
        return
    # Moved now and not read since (by this connection, the only one that
    # sees the uncommitted rows): no need to move them again yet.
    fresh: set[str] = lms_cache.commit_writes().notes.setdefault(FRESH_TOKENS, set())
    new = keys - fresh
    if new:
        fresh |= new
        lms_cache.invalidate_at_once(bump=dict.fromkeys(new, FIGURE_TOKEN_SECONDS))


def _session_saved(sender: type, instance: StudySession, **kwargs: object) -> None:
    forget_dashboard(instance.student_id)


def _review_changed(sender: type, instance: Review, **kwargs: object) -> None:
    forget_class_figures(instance.student_id, instance.card_id)


def _study_rows_deleting(sender: type, rows: object, **kwargs: object) -> None:
    """Schedules, reviews or sessions deleted by themselves: their students'
    dashboards, and (but for sessions) the figures of those students and
    cards. Two small reads, whatever the number of rows."""
    students = set(rows.values_list("student_id", flat=True).distinct())
    for student_id in students:
        forget_dashboard(student_id)
    if sender is StudySession or not students:
        return
    cards = rows.exclude(card=None).values_list("card_id", flat=True).distinct()
    _forget_figures({_student_token_key(pk) for pk in students} | {_card_token_key(_card_bucket(pk)) for pk in cards})


def _students_deleting(sender: object, users: list, **kwargs: object) -> None:
    """Their reviews and schedules go in one statement each (no per-row
    signal): make every figure they were part of stale. Their enrolments'
    deletion re-reads their classes; a card's difficulty may also count
    them in a class they have left, so every card bucket moves (one call)."""
    if not users:
        return
    for user in users:
        forget_dashboard(user.pk)
    _forget_figures({_student_token_key(user.pk) for user in users} | {_card_token_key(b) for b in range(CARD_BUCKETS)})


def _enrollment_changed(sender: type, instance: Enrollment, **kwargs: object) -> None:
    forget_dashboard(instance.student_id)
    forget_class_progress([instance.classroom_id])


def connect() -> None:
    # Every answer, undo, start and end saves the session row, so that one
    # signal covers the schedules and reviews they write (one cache delete per
    # answer rather than one per row written).
    # Class progress follows the review rows instead: each names the student
    # and the card whose figures moved.
    # No receiver listens to the deletion of sessions, reviews or schedules:
    # one would make Django load each row it deletes (an account with 50,000
    # reviews took seconds). Their deletions are covered where they happen:
    # an account's by `user_deleting`, a card's by its own signal (the
    # content token re-reads every class), Undo's by `study.undo`.
    post_save.connect(_session_saved, sender=StudySession, dispatch_uid="progress-session-save")
    post_save.connect(_review_changed, sender=Review, dispatch_uid="progress-review-save")
    for name, signal in (("save", post_save), ("delete", post_delete)):
        signal.connect(_enrollment_changed, sender=Enrollment, dispatch_uid=f"progress-enrollment-{name}")
    # Cards: saved one by one; deleted by themselves (`cards_deleted`, once
    # per deletion) or with their deck (the deck's post_delete): no per-card
    # delete receiver, which would make a deck's deletion load every card.
    post_save.connect(_content_changed, sender=Card, dispatch_uid="dashboard-card-save")
    cards_deleted.connect(_content_changed, dispatch_uid="dashboard-cards-deleted")
    post_delete.connect(_content_changed, sender=Deck, dispatch_uid="dashboard-deck-delete")
    user_deleting.connect(_students_deleting, dispatch_uid="progress-students-deleting")
    study_rows_deleting.connect(_study_rows_deleting, dispatch_uid="progress-study-rows-deleting")


def cached_student_dashboard(user: User, *, render: Callable[[Dashboard], str] | None = None) -> Dashboard:
    """`student_dashboard(user)` from the cache when nothing of it changed.

    With `render`, the dashboard's `html` is `render(dashboard)`, worked out
    once per change and cached with the figures it shows."""
    seconds = settings.DASHBOARD_CACHE_SECONDS
    if seconds <= 0:
        dashboard = student_dashboard(user)
        if render is not None:
            dashboard.html = render(dashboard)
        return dashboard
    now = timezone.now()
    today = study_day(user, now)
    key = _dashboard_key(user.pk)
    found = cache.get_many([key, visibility.GENERATION_KEY, CONTENT_KEY])
    # The time zone too: every day in the figures is a local day.
    stamp = (today, user.timezone, found.get(visibility.GENERATION_KEY), found.get(CONTENT_KEY))
    entry = found.get(key)
    if entry is not None and entry[0] == stamp:
        dashboard = entry[1]
        if render is None or dashboard.html:
            return dashboard
    else:
        dashboard = student_dashboard(user, now=now)
    if render is not None:
        dashboard.html = render(dashboard)
    cache.set(key, (stamp, dashboard), seconds)
    return dashboard


def _tokens_for(student_ids: list[int]) -> tuple[dict[int, object], dict[int, object]]:
    """The change tokens of these students and of every card bucket."""
    keys = [_student_token_key(pk) for pk in student_ids] + [_card_token_key(b) for b in range(CARD_BUCKETS)]
    batch = lms_cache.current_commit_writes()
    if batch is not None:
        batch.notes.pop(FRESH_TOKENS, None)  # read: this transaction's next change moves them again
    found = cache.get_many(keys)
    students = {pk: found.get(_student_token_key(pk)) for pk in student_ids}
    buckets = {b: found.get(_card_token_key(b)) for b in range(CARD_BUCKETS)}
    return students, buckets


def _refresh(classroom: Classroom, figures: ClassFigures, now: datetime) -> bool:
    """Read again the figures of the students and cards whose tokens moved
    since `figures` was read (most of a class's figures stay as they were
    between two views: each answer moves one student and one card bucket).
    When a quarter of the students or buckets moved, that part is read
    whole instead. Returns whether anything was read."""
    students, buckets = _tokens_for(list(figures.student_tokens))
    stale_students = [pk for pk, token in students.items() if token != figures.student_tokens[pk]]
    stale_buckets = {b for b, token in buckets.items() if token != figures.card_tokens.get(b)}
    if not stale_students and not stale_buckets:
        return False
    # The tokens first: a change committed while reading moves them again.
    figures.student_tokens, figures.card_tokens = students, buckets
    if stale_students:
        only = None if 4 * len(stale_students) > len(students) else stale_students
        for pk in stale_students:
            figures.schedules.pop(pk, None)
        figures.students.update(_students_activity(classroom, now, only))
        figures.schedules.update(_schedules_per_student(classroom, now, only))
    if stale_buckets:
        whole = 4 * len(stale_buckets) > CARD_BUCKETS
        stale_cards = [pk for pk in figures.card_decks if _card_bucket(pk) in stale_buckets]
        for pk in stale_cards:
            figures.lapses.pop(pk, None)
            figures.qualities.pop(pk, None)
        if stale_cards:
            figures.lapses.update(_lapses_per_card(classroom, None if whole else stale_cards))
            figures.qualities.update(_qualities_per_card(classroom, None if whole else stale_cards))
    return True


def cached_class_progress(
    classroom: Classroom,
    *,
    sort: str = "name",
    descending: bool = False,
    render_row: Callable[[StudentProgress, datetime], str] | None = None,
    render_parts: dict[str, Callable[[ClassProgress], str]] | None = None,
) -> ClassProgress:
    """`class_progress` with its big reads (activity and schedules per
    student, lapses and answer quality per card) kept in the cache and read
    again only for the students and cards that changed since: each review
    saved or deleted and each schedule deleted moves its student's and its
    card's token (`forget_class_figures`). An enrolment and any class, deck
    or card change read everything again. Figures that move with the clock
    alone (due, behind, the week's reviews) may lag by
    CLASS_PROGRESS_CACHE_SECONDS: everything is read again that often.

    With `render_row`, `rows_html` is the students' rows rendered by
    `render_row(row, now)`, and with `render_parts` (by name: "hardest",
    "leeches") `parts_html` the page's other tables: each row and part is
    kept with what it shows and rendered again only when that changed
    (`_rendered`)."""
    seconds = settings.CLASS_PROGRESS_CACHE_SECONDS
    now = timezone.now()
    if seconds <= 0:
        data = class_progress(classroom, sort=sort, descending=descending, now=now)
        if render_row is not None:
            data.rows_html = "".join(render_row(row, now) for row in data.students)
        data.parts_html = {name: render(data) for name, render in (render_parts or {}).items()}
        return data
    key = f"learning:class-progress:{classroom.pk}:{FIGURES_FORMAT}"
    token_key = _class_token_key(classroom.pk)
    found = cache.get_many([key, token_key, visibility.GENERATION_KEY, CONTENT_KEY])
    tokens = (found.get(token_key), found.get(visibility.GENERATION_KEY), found.get(CONTENT_KEY))
    entry = found.get(key)
    if entry is not None and entry[0] == tokens and now - entry[1].built_at < timedelta(seconds=seconds):
        figures = entry[1]
        changed = _refresh(classroom, figures, now)
    else:
        student_ids = list(Enrollment.objects.filter(classroom=classroom).values_list("student_id", flat=True))
        # The tokens before the figures: a change committed while reading moves them again.
        student_tokens, card_tokens = _tokens_for(student_ids)
        figures = class_figures(classroom, now)
        figures.student_tokens, figures.card_tokens = student_tokens, card_tokens
        changed = True
    texts = len(figures.texts)
    data = _class_progress_from(classroom, figures, sort=sort, descending=descending, now=now)
    if changed or len(figures.texts) != texts:
        cache.set(key, (tokens, figures), seconds)
    if render_row is not None or render_parts:
        _rendered(data, render_row, render_parts or {}, now)
    return data


# A class's rendered student rows, in groups of students (by id) so that an
# answer rewrites one group's entry, not every row, and its other tables. A
# row or table is kept with what it shows and served while that is
# unchanged; a release may change the markup, so the version is in the key.
ROW_GROUPS = 16
ROW_SECONDS = 3600


def _rows_key(classroom_id: int, group: int | str) -> str:
    return f"learning:class-progress:{classroom_id}:rows:{settings.VERSION}:{group}"


def ago_stamp(value: datetime | None, now: datetime) -> tuple[int, int, int]:
    """The same as long as a relative time ("5 minutes ago", "3 hours ago",
    "2 weeks ago": Django's timesince to one unit) reads the same: the
    minute under an hour, the hour under a day; beyond, the whole days since
    `value` and the date (timesince counts months by calendar days: from
    January 31st, "1 month" starts on March 1st)."""
    if value is None:
        return (0, 0, 0)
    delta = now - value
    if delta.days:
        return (delta.days, now.toordinal(), 0)
    hours = delta.seconds // 3600
    return (0, hours, 0 if hours else delta.seconds // 60)


def _row_stamp(row: StudentProgress, now: datetime, zone: str) -> tuple:
    """Everything a student's row shows (the dates in the page's time zone)."""
    return (
        zone,
        row.student,
        row.last_active,
        ago_stamp(row.last_active, now),
        row.reviews_7d,
        row.backlog,
        row.mastery_percent,
        row.leeches,
        row.behind_reason,
        tuple((t.pk, t.score, t.scope_title, t.ended_at, t.cards_studied, t.overridden) for t in row.tests),
    )


def _part_stamp(data: ClassProgress, name: str) -> tuple:
    """Everything the table `name` shows."""
    if name == "hardest":
        return tuple(
            (
                d.deck.pk,
                d.deck.title,
                tuple(
                    (h.card.pk, h.card.front, h.lapses, h.average_quality, h.answers, h.leech_students)
                    for h in d.hardest
                ),
            )
            for d in data.decks
        )
    if name == "leeches":
        return tuple(
            (
                s.card_id,
                s.student_id,
                s.lapses,
                s.card.front,
                s.card.deck.title,
                s.student.get_full_name(),
                s.student.username,
            )
            for s in data.leeches
        )
    raise ValueError(f"No table {name!r} on class progress.")


def _rendered(
    data: ClassProgress,
    render_row: Callable[[StudentProgress, datetime], str] | None,
    render_parts: dict[str, Callable[[ClassProgress], str]],
    now: datetime,
) -> None:
    """`data.rows_html` and `data.parts_html`, each row and table from the
    cache when it would read the same, in one cache read (and one write of
    what changed)."""
    pk = data.classroom.pk
    groups = range(ROW_GROUPS) if render_row is not None else range(0)
    keys = {group: _rows_key(pk, group) for group in [*groups, *render_parts]}
    found = cache.get_many(list(keys.values()))
    writes: dict[str, object] = {}

    if render_row is not None:
        cached = {group: found.get(keys[group]) or {} for group in groups}
        fresh: dict[int, dict[int, tuple[tuple, str]]] = {group: {} for group in groups}
        zone = timezone.get_current_timezone_name()
        html = []
        for row in data.students:
            group = row.student.pk % ROW_GROUPS
            stamp = _row_stamp(row, now, zone)
            entry = cached[group].get(row.student.pk)
            if entry is None or entry[0] != stamp:
                entry = (stamp, render_row(row, now))
            fresh[group][row.student.pk] = entry
            html.append(entry[1])
        data.rows_html = "".join(html)
        # A group with a row rendered again, or a student gone, is written again.
        writes.update({keys[group]: fresh[group] for group in groups if fresh[group] != cached[group]})

    for name, render in render_parts.items():
        stamp = (timezone.get_current_timezone_name(), _part_stamp(data, name))
        entry = found.get(keys[name])
        if entry is None or entry[0] != stamp:
            entry = writes[keys[name]] = (stamp, render(data))
        data.parts_html[name] = entry[1]
    if writes:
        cache.set_many(writes, ROW_SECONDS)


def student_dashboard(user: User, *, now: datetime | None = None) -> Dashboard:
    """Everything on the student dashboard in nine queries, whatever the size
    of their history."""
    now = now or timezone.now()
    tz = user.tzinfo
    today = study_day(user, now)
    _, day_end = local_day_bounds(user, now)
    visible_cards = Card.objects.visible_to(user).order_by().values("pk")

    # 1. Cards due per study day over the forecast window, counted in the
    # database (a few dozen rows, not one per schedule); overdue days fall on
    # today. No ORDER BY: the buckets do not care.
    due_days = (
        CardState.objects.filter(
            student=user, card__in=visible_cards, due_at__lt=day_end + timedelta(days=FORECAST_DAYS - 1)
        )
        .annotate(day=study_day_of("due_at", tz))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    buckets = dict.fromkeys((today + timedelta(days=i) for i in range(FORECAST_DAYS)), 0)
    for row in due_days:
        day = max(today, row["day"])
        if day in buckets:  # the window's far edge may fall a day out around a DST change
            buckets[day] += row["n"]
    forecast = sorted(buckets.items())

    # 2. Cards never studied.
    new_available = (
        Card.objects.visible_to(user)
        .exclude(pk__in=CardState.objects.filter(student=user).values("card_id"))
        .order_by()
        .count()
    )

    # 3. Reviews per local day over the whole history (streaks need all of it).
    reviews_by_day = {
        row["day"]: row["n"]
        for row in Review.objects.filter(student=user)
        .annotate(day=study_day_of("reviewed_at", tz))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    }
    current, longest = streaks(set(reviews_by_day), today, grace.lost_days(tz))

    # 4 + 5. Decks the student can see, with their card counts, and the
    # student's states grouped per deck.
    decks = list(
        Deck.objects.visible_to(user)
        .annotate(total=Count("cards"))
        .order_by("lesson__course__classroom__name", "lesson__course__position", "lesson__position", "position", "id")
    )
    per_deck = {
        row["card__deck_id"]: row
        for row in CardState.objects.filter(student=user)
        .values("card__deck_id")
        .annotate(
            studied=Count("id"),
            mastered=Count("id", filter=Q(interval__gte=MASTERED_INTERVAL)),
            due=Count("id", filter=Q(due_at__lt=day_end)),
            leeches=Count("id", filter=Q(lapses__gte=LEECH_LAPSES)),
        )
        .order_by()
    }
    deck_rows = []
    for deck in decks:
        row = per_deck.get(deck.pk, {})
        deck_rows.append(
            DeckProgress(
                deck=deck,
                total=deck.total,
                studied=row.get("studied", 0),
                mastered=row.get("mastered", 0),
                due=row.get("due", 0),
                leeches=row.get("leeches", 0),
            )
        )

    # 6. True retention: answers that counted, on cards already in review.
    month_ago = now - timedelta(days=30)
    retention = Review.objects.filter(
        student=user, changed_schedule=True, status_before=CardState.Status.REVIEW
    ).aggregate(
        total=Count("id"),
        passed=Count("id", filter=Q(quality__gte=3)),
        total_30=Count("id", filter=Q(reviewed_at__gte=month_ago)),
        passed_30=Count("id", filter=Q(reviewed_at__gte=month_ago, quality__gte=3)),
    )

    # 7. Time studied, from the sessions' durations.
    time_studied = StudySession.objects.filter(student=user).aggregate(
        total=Sum("duration_seconds"),
        week=Sum("duration_seconds", filter=Q(started_at__gte=now - timedelta(days=7))),
    )

    # 8. Recent sessions (tests with their scores, and one to resume).
    # A session left before its first answer stays in the table for the record
    # but isn't "recent work"; it is still fetched while it can be resumed, so
    # the Resume button keeps working without another query.
    resumable = Q(status=StudySession.Status.ACTIVE, last_activity_at__gte=now - timedelta(minutes=30))
    fetched = list(
        StudySession.objects.filter(student=user)
        .filter(Q(answers_count__gt=0) | resumable)
        .order_by("-started_at", "-id")[:16]
    )
    recent = [s for s in fetched if s.answers_count][:8]
    active = next(
        (
            s
            for s in fetched
            if s.status == StudySession.Status.ACTIVE and s.last_activity_at >= now - timedelta(minutes=30)
        ),
        None,
    )

    # 9. Leeches.
    leeches = list(
        CardState.objects.leeches()
        .filter(student=user, card__in=visible_cards)
        .select_related("card__deck")
        .order_by("-lapses", "card_id")[:20]
    )

    due_today = sum(n for d, n in forecast if d == today)
    return Dashboard(
        today=today,
        due_today=due_today,
        new_available=new_available,
        forecast=forecast,
        reviews_by_day=reviews_by_day,
        current_streak=current,
        longest_streak=longest,
        decks=deck_rows,
        retention=_share(retention["passed"], retention["total"]),
        retention_reviews=retention["total"],
        retention_30d=_share(retention["passed_30"], retention["total_30"]),
        total_reviews=sum(reviews_by_day.values()),
        reviews_today=reviews_by_day.get(today, 0),
        seconds_studied=time_studied["total"] or 0,
        seconds_studied_7d=time_studied["week"] or 0,
        recent_sessions=recent,
        active_session=active,
        leeches=leeches,
    )


# --- Tests counted by the cards' class -------------------------------------------------


@dataclass
class ClassTest:
    """One completed test as a class sees it: the answers on that class's
    cards only. A test of "All my cards" (or of another scope) counts toward
    every class whose cards it asked, each with its own share of the score."""

    pk: int  # the study session
    student_id: int
    scope_title: str
    ended_at: datetime
    cards_studied: int = 0
    right: int = 0
    overridden: int = 0  # wrong marks the student overrode ("I was right")
    by_deck: dict[int, tuple[int, int]] = field(default_factory=dict)  # deck -> (answers, right)

    @property
    def score(self) -> float:
        return round(100 * self.right / self.cards_studied, 1) if self.cards_studied else 0.0

    def deck_score(self, deck_id: int) -> float | None:
        answers, right = self.by_deck.get(deck_id, (0, 0))
        return round(100 * right / answers, 1) if answers else None


def class_tests(
    class_cards: QuerySet, students: QuerySet | list[int], *, since: datetime | None = None
) -> list[ClassTest]:
    """Completed tests with answers on `class_cards`, newest first, in one
    grouped query (one row per test and deck) whatever the scope the student
    chose: a session's class is the class of the cards it asked."""
    reviews = Review.objects.filter(
        mode=StudySession.Mode.TEST,
        session__status=StudySession.Status.COMPLETED,
        card__in=class_cards.values("pk"),
        student_id__in=students,
    )
    if since is not None:
        reviews = reviews.filter(session__ended_at__gte=since)
    tests: dict[int, ClassTest] = {}
    for row in (
        reviews.values("session_id", "student_id", "session__ended_at", "session__scope_title", "card__deck_id")
        .annotate(
            n=Count("*"),
            right=Count("id", filter=Q(correct=True)),
            overridden=Count("id", filter=Q(overridden_at__isnull=False)),
        )
        .order_by()
    ):
        test = tests.get(row["session_id"])
        if test is None:
            test = tests[row["session_id"]] = ClassTest(
                pk=row["session_id"],
                student_id=row["student_id"],
                scope_title=row["session__scope_title"],
                ended_at=row["session__ended_at"],
            )
        test.cards_studied += row["n"]
        test.right += row["right"]
        test.overridden += row["overridden"]
        test.by_deck[row["card__deck_id"]] = (row["n"], row["right"])
    return sorted(tests.values(), key=lambda t: (t.ended_at, t.pk), reverse=True)


def class_test_dict(test: ClassTest) -> dict:
    return {
        "session": test.pk,
        "score": test.score,
        "scope": test.scope_title,
        "cards": test.cards_studied,
        "right": test.right,
        "overridden": test.overridden,
        "ended_at": test.ended_at,
    }


# --- Teacher class progress -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassStudent:
    """A student as class progress shows them: a name and a link (kept in the
    cache as these four fields, not as a user row)."""

    pk: int
    username: str
    first_name: str = ""
    last_name: str = ""

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()  # as User.get_full_name

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


@dataclass
class StudentProgress(_Mastery):
    student: ClassStudent
    last_active: datetime | None = None
    reviews_7d: int = 0
    backlog: int = 0
    studied: int = 0
    mastered: int = 0
    total_cards: int = 0
    leeches: int = 0
    tests: list[ClassTest] = field(default_factory=list)
    behind_reason: str = ""

    @property
    def mastery_out_of(self) -> int:
        return self.total_cards

    @property
    def latest_score(self) -> float | None:
        return self.tests[0].score if self.tests else None

    @property
    def falling_behind(self) -> bool:
        return bool(self.behind_reason)


@dataclass(frozen=True, slots=True)
class CardText:
    """A card as the hardest cards table shows it (a model instance per card
    cost more than the rest of the ranking)."""

    pk: int
    front: str


@dataclass
class HardCard:
    card: CardText
    lapses: int
    average_quality: float | None
    answers: int
    leech_students: int


@dataclass
class DeckDifficulty:
    deck: Deck
    hardest: list[HardCard]


@dataclass
class ClassProgress:
    classroom: Classroom
    students: list[StudentProgress]
    total_cards: int
    decks: list[DeckDifficulty]
    leeches: list[CardState]
    sort: str
    descending: bool
    # The students' table rows as rendered HTML, in the order of `students`
    # (`cached_class_progress(render_row=...)`).
    rows_html: str = ""
    parts_html: dict[str, str] = field(default_factory=dict)  # `render_parts`, rendered

    @property
    def behind_count(self) -> int:
        return sum(1 for s in self.students if s.falling_behind)


SORT_KEYS = {
    "name": lambda s: (s.student.get_full_name() or s.student.username).lower(),
    "last_active": lambda s: s.last_active.timestamp() if s.last_active else 0.0,
    "reviews": lambda s: s.reviews_7d,
    "backlog": lambda s: s.backlog,
    "mastery": lambda s: s.mastery or 0.0,
    "score": lambda s: s.latest_score if s.latest_score is not None else -1.0,
    "behind": lambda s: (s.falling_behind, s.backlog),
}


def _behind_reason(row: StudentProgress, now: datetime, lost: set[date]) -> str:
    """`lost`: grace.lost_days in the default time zone."""
    if row.total_cards == 0:
        return ""
    if row.last_active is None:
        return "Has not started"
    idle = grace.days_without_review(row.last_active, now, timezone.get_default_timezone(), lost)
    if idle >= BEHIND_IDLE_DAYS:
        return f"No reviews for {idle} days"
    if row.backlog >= BEHIND_BACKLOG and row.backlog > row.reviews_7d:
        return f"{row.backlog} cards overdue"
    return ""


# Plain tuples (named tuples take ten times as long to pickle and unpickle).
# username, first name, last name, latest answer, answers in the last 7 days:
StudentActivity = tuple[str, str, str, datetime | None, int]
# studied, backlog (due now), mastered, leeches:
Schedules = tuple[int, int, int, int]
# total lapses, students for whom it is a leech:
CardLapses = tuple[int, int]
# average quality, answers:
CardQuality = tuple[float | None, int]
NO_LAPSES: CardLapses = (0, 0)


@dataclass
class ClassFigures:
    """What class progress reads from the big tables (schedules and
    reviews): per student and per card, and the change tokens each was read
    under (see `cached_class_progress`)."""

    # Plain tuples, not rows or dicts: the entry is read (and after an answer
    # written) on every view, and its size is what that costs.
    built_at: datetime
    total_cards: int  # the cards students can study (published lessons)
    decks: list[Deck]
    card_decks: dict[int, int]  # card -> deck, every card of the class
    students: dict[int, StudentActivity]
    schedules: dict[int, Schedules]  # of the students
    lapses: dict[int, CardLapses]  # of the cards
    qualities: dict[int, CardQuality]  # of the cards
    student_tokens: dict[int, object] = field(default_factory=dict)
    card_tokens: dict[int, object] = field(default_factory=dict)  # card bucket -> token
    # The hardest cards' texts read so far: card -> front (a card's edit reads
    # everything again through the content token).
    texts: dict[int, str] = field(default_factory=dict)


def _class_cards(classroom: Classroom) -> QuerySet:
    return Card.objects.filter(deck__lesson__course__classroom=classroom).order_by()


def _students_activity(
    classroom: Classroom, now: datetime, only: list[int] | None = None
) -> dict[int, StudentActivity]:
    """1. Students, with their activity in the class: the latest answer is one
    backward step down the (student, reviewed_at, card) index and the week's
    answers one short range of it, so no pass over their whole history."""
    class_cards = _class_cards(classroom)
    week_ago = now - timedelta(days=7)
    class_reviews = Review.objects.filter(student=OuterRef("pk"), card__in=class_cards.values("pk")).order_by()
    students = User.objects.filter(pk__in=Enrollment.objects.filter(classroom=classroom).values("student_id"))
    if only is not None:
        students = students.filter(pk__in=only)
    return {
        pk: tuple(row)
        # The names only: the page shows a name and a link.
        for pk, *row in students.annotate(
            last_review=Subquery(class_reviews.order_by("-reviewed_at").values("reviewed_at")[:1]),
            reviews_week=Subquery(
                # A bare COUNT (not an aggregate, which would GROUP BY and
                # lose the index range on reviewed_at); of card_id, which the
                # index holds, so the count never reads the table.
                class_reviews.filter(reviewed_at__gte=week_ago)
                .annotate(n=Func(F("card"), function="COUNT", output_field=IntegerField()))
                .values("n")
            ),
        )
        .order_by()
        .values_list("id", "username", "first_name", "last_name", "last_review", "reviews_week")
    }


def _schedules_per_student(classroom: Classroom, now: datetime, only: list[int] | None = None) -> dict[int, Schedules]:
    """3. Schedules per student, on the cards students can study (published
    lessons). No join on the enrolments: it costs more than the few rows of
    former students it would return, which are skipped when assembling."""
    states = CardState.objects.filter(
        card__in=_class_cards(classroom).filter(deck__lesson__published=True).values("pk")
    )
    if only is not None:
        states = states.filter(student_id__in=only)
    return {
        pk: tuple(row)
        for pk, *row in states.values("student_id")
        .annotate(
            studied=Count("*"),
            backlog=Count("card", filter=Q(due_at__lte=now)),
            mastered=Count("card", filter=Q(interval__gte=MASTERED_INTERVAL)),
            leeches=Count("card", filter=Q(lapses__gte=LEECH_LAPSES)),
        )
        .order_by()
        .values_list("student_id", "studied", "backlog", "mastered", "leeches")
    }


def _lapses_per_card(classroom: Classroom, only: list[int] | None = None) -> dict[int, CardLapses]:
    """5. Lapses per card over all students."""
    cards = _class_cards(classroom).values("pk") if only is None else only
    return {
        pk: (total or 0, leech_students)
        for pk, total, leech_students in CardState.objects.filter(card__in=cards)
        .values("card_id")
        # Counting card_id, not id: then the (card, lapses) index answers it
        # alone (an index-only scan) instead of reading every schedule row.
        .annotate(total_lapses=Sum("lapses"), leech_students=Count("card", filter=Q(lapses__gte=LEECH_LAPSES)))
        .order_by()
        .values_list("card_id", "total_lapses", "leech_students")
    }


def _qualities_per_card(classroom: Classroom, only: list[int] | None = None) -> dict[int, CardQuality]:
    """6. The average quality of the answers that counted for SM-2 (typed test
    answers are graded 5 or 1), per card."""
    cards = _class_cards(classroom).values("pk") if only is None else only
    return {
        pk: (average, n)
        for pk, average, n in Review.objects.filter(card__in=cards, changed_schedule=True)
        .values("card_id")
        # COUNT(*) so the partial (card, quality) index answers it alone.
        .annotate(avg=Avg("quality"), n=Count("*"))
        .order_by()
        .values_list("card_id", "avg", "n")
    }


def class_figures(classroom: Classroom, now: datetime) -> ClassFigures:
    """Every figure class progress reads from the schedules and reviews, live."""
    return ClassFigures(
        built_at=now,
        # 2. Cards students can study: students only see published lessons,
        # so their mastery is out of those.
        total_cards=_class_cards(classroom).filter(deck__lesson__published=True).count(),
        # 7 and 8. The decks, and which deck each card is in.
        decks=list(
            Deck.objects.filter(lesson__course__classroom=classroom).order_by(
                "lesson__course__position", "lesson__position", "position", "id"
            )
        ),
        card_decks=dict(_class_cards(classroom).values_list("pk", "deck_id")),
        students=_students_activity(classroom, now),
        schedules=_schedules_per_student(classroom, now),
        lapses=_lapses_per_card(classroom),
        qualities=_qualities_per_card(classroom),
    )


def class_progress(
    classroom: Classroom, *, sort: str = "name", descending: bool = False, now: datetime | None = None
) -> ClassProgress:
    """Per student and per deck figures for one class, in a fixed number of
    queries (ten) however many students and cards it has, all read live."""
    now = now or timezone.now()
    return _class_progress_from(classroom, class_figures(classroom, now), sort=sort, descending=descending, now=now)


def _class_progress_from(
    classroom: Classroom, figures: ClassFigures, *, sort: str, descending: bool, now: datetime
) -> ClassProgress:
    """The page's rows from the figures, with the small reads done live:
    tests (4), the hardest cards' texts not read before (8) and leeches (9)."""
    if sort not in SORT_KEYS:
        sort = "name"
    class_cards = _class_cards(classroom)
    enrolled = Enrollment.objects.filter(classroom=classroom).values("student_id")
    total_cards = figures.total_cards
    rows = {
        pk: StudentProgress(
            student=ClassStudent(pk, username, first_name, last_name),
            total_cards=total_cards,
            last_active=last_review,
            reviews_7d=reviews_week or 0,
        )
        for pk, (username, first_name, last_name, last_review, reviews_week) in sorted(
            figures.students.items(), key=lambda item: item[1][0]
        )
    }
    for student_id, row in figures.schedules.items():
        progress = rows.get(student_id)
        if progress is None:
            continue  # a former student's schedules
        progress.studied, progress.backlog, progress.mastered, progress.leeches = row

    # 4. Latest test scores (three per student) over the last half year,
    # counted by the class of the cards each test asked, whatever its scope.
    for test in class_tests(class_cards, enrolled, since=now - timedelta(days=183)):
        tests = rows[test.student_id].tests
        if len(tests) < 3:
            tests.append(test)

    zone = timezone.get_default_timezone()
    lost: set[date] | None = None  # the grace windows' days: read once, when a student needs them
    for progress in rows.values():
        if lost is None and progress.last_active is not None and (now - progress.last_active).days > 0:
            lost = grace.lost_days(zone)
        progress.behind_reason = _behind_reason(progress, now, lost or set())
    ordered = sorted(rows.values(), key=SORT_KEYS["name"])
    ordered.sort(key=SORT_KEYS[sort], reverse=descending)

    # The hardest answered cards per deck, ranked on ids; then the texts of
    # those few only (8).
    lapses, qualities = figures.lapses, figures.qualities
    by_deck: dict[int, list[tuple]] = {}
    for card_id, (average, _) in qualities.items():
        deck_id = figures.card_decks.get(card_id)
        if deck_id is None:
            continue
        total = lapses.get(card_id, NO_LAPSES)[0]
        by_deck.setdefault(deck_id, []).append((-total, average if average is not None else 5.0, card_id))
    chosen = {deck_id: sorted(keys)[:HARDEST_PER_DECK] for deck_id, keys in by_deck.items()}
    missing = [card_id for keys in chosen.values() for *_, card_id in keys if card_id not in figures.texts]
    if missing:
        figures.texts.update(Card.objects.filter(pk__in=missing).values_list("pk", "front"))

    def hard_card(card_id: int) -> HardCard:
        total, leech_students = lapses.get(card_id, NO_LAPSES)
        average, answers = qualities[card_id]
        return HardCard(CardText(card_id, figures.texts[card_id]), total, average, answers, leech_students)

    hardest = {deck_id: [hard_card(card_id) for *_, card_id in keys] for deck_id, keys in chosen.items()}
    deck_rows = [DeckDifficulty(deck=deck, hardest=hardest.get(deck.pk, [])) for deck in figures.decks]

    # 9. Leeches across the class (the partial leech index, worst first).
    leeches = list(
        CardState.objects.leeches()
        .filter(student_id__in=enrolled, card__in=class_cards.values("pk"))
        .select_related("student", "card__deck")
        # What the page and the API show of them, not the whole rows.
        .only(
            "lapses",
            "student__username",
            "student__first_name",
            "student__last_name",
            "card__front",
            "card__deck__title",
        )
        .order_by("-lapses", "card_id")[:50]
    )
    return ClassProgress(
        classroom=classroom,
        students=ordered,
        total_cards=total_cards,
        decks=deck_rows,
        leeches=leeches,
        sort=sort,
        descending=descending,
    )


# --- One student in one class -----------------------------------------------------------

RECENT_REVIEWS = 20
RECENT_TESTS = 10
ACTIVITY_DAYS = 30


@dataclass
class ClassStudentProgress(_Mastery):
    classroom: Classroom
    student: User
    today: date
    decks: list[DeckProgress]
    total_reviews: int
    reviews_7d: int
    last_active: datetime | None
    activity: list[tuple[date, int]]  # reviews per local day, oldest first
    recent_reviews: list[Review]
    tests: list[ClassTest]
    leeches: list[CardState]

    @property
    def total_cards(self) -> int:
        return sum(d.total for d in self.decks)

    @property
    def mastered(self) -> int:
        return sum(d.mastered for d in self.decks)

    @property
    def backlog(self) -> int:
        return sum(d.due for d in self.decks)

    @property
    def mastery_out_of(self) -> int:
        return self.total_cards


def class_student_progress(classroom: Classroom, student: User, *, now: datetime | None = None) -> ClassStudentProgress:
    """One student's work in one class, in seven queries whatever the size of
    the class or of the student's history."""
    now = now or timezone.now()
    tz = student.tzinfo
    today = study_day(student, now)
    class_cards = Card.objects.filter(deck__lesson__course__classroom=classroom).order_by().values("pk")

    # 1 + 2. The decks the student can study (published lessons) with their
    # sizes, and the student's schedules grouped per deck.
    decks = list(
        Deck.objects.filter(lesson__course__classroom=classroom, lesson__published=True)
        .select_related("lesson")
        .annotate(total=Count("cards"))
        .order_by("lesson__course__position", "lesson__position", "position", "id")
    )
    per_deck = {
        row["card__deck_id"]: row
        for row in CardState.objects.filter(student=student, card__deck__in=[d.pk for d in decks])
        .values("card__deck_id")
        .annotate(
            studied=Count("id"),
            mastered=Count("id", filter=Q(interval__gte=MASTERED_INTERVAL)),
            due=Count("id", filter=Q(due_at__lte=now)),
            leeches=Count("id", filter=Q(lapses__gte=LEECH_LAPSES)),
        )
        .order_by()
    }
    deck_rows = [
        DeckProgress(
            deck=deck,
            total=deck.total,
            studied=per_deck.get(deck.pk, {}).get("studied", 0),
            mastered=per_deck.get(deck.pk, {}).get("mastered", 0),
            due=per_deck.get(deck.pk, {}).get("due", 0),
            leeches=per_deck.get(deck.pk, {}).get("leeches", 0),
        )
        for deck in decks
    ]

    # 3 + 4. Activity: totals, and reviews per day over the last month.
    reviews = Review.objects.filter(student=student, card__in=class_cards)
    totals = reviews.aggregate(
        total=Count("id"), week=Count("id", filter=Q(reviewed_at__gte=now - timedelta(days=7))), last=Max("reviewed_at")
    )
    first_day = today - timedelta(days=ACTIVITY_DAYS - 1)
    per_day = dict.fromkeys((first_day + timedelta(days=i) for i in range(ACTIVITY_DAYS)), 0)
    for row in (
        reviews.filter(reviewed_at__gte=now - timedelta(days=ACTIVITY_DAYS + 1))
        .annotate(day=study_day_of("reviewed_at", tz))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    ):
        if row["day"] in per_day:
            per_day[row["day"]] = row["n"]

    # 5. The latest answers, with their cards and decks.
    recent = list(reviews.select_related("card__deck").order_by("-reviewed_at", "-id")[:RECENT_REVIEWS])

    # 6. Test scores in this class (by the cards' class, whatever the scope).
    class_card_rows = Card.objects.filter(deck__lesson__course__classroom=classroom).order_by()
    tests = class_tests(class_card_rows, [student.pk])[:RECENT_TESTS]

    # 7. Leeches.
    leeches = list(
        CardState.objects.leeches()
        .filter(student=student, card__in=class_cards)
        .select_related("card__deck")
        .order_by("-lapses", "card_id")
    )
    return ClassStudentProgress(
        classroom=classroom,
        student=student,
        today=today,
        decks=deck_rows,
        total_reviews=totals["total"],
        reviews_7d=totals["week"],
        last_active=totals["last"],
        activity=sorted(per_day.items()),
        recent_reviews=recent,
        tests=tests,
        leeches=leeches,
    )


def class_student_progress_dict(progress: ClassStudentProgress) -> dict:
    return {
        "classroom": {"id": progress.classroom.pk, "name": progress.classroom.name},
        "student": {
            "id": progress.student.pk,
            "username": progress.student.username,
            "name": progress.student.get_full_name() or progress.student.username,
        },
        "total_cards": progress.total_cards,
        "mastered": progress.mastered,
        "backlog": progress.backlog,
        "total_reviews": progress.total_reviews,
        "reviews_7d": progress.reviews_7d,
        "last_active": progress.last_active,
        "activity": [{"date": d.isoformat(), "reviews": n} for d, n in progress.activity],
        "decks": [p.as_dict() for p in progress.decks],
        "recent_reviews": [
            {
                "id": r.pk,
                "card": r.card_id,
                "front": r.card.front if r.card else "",
                "deck": r.card.deck_id if r.card else None,
                "mode": r.mode,
                "quality": r.quality,
                "correct": r.correct,
                "reviewed_at": r.reviewed_at,
            }
            for r in progress.recent_reviews
        ],
        "tests": [class_test_dict(t) for t in progress.tests],
        "leeches": [
            {"card": s.card_id, "deck": s.card.deck_id, "front": s.card.front, "lapses": s.lapses}
            for s in progress.leeches
        ],
    }


def class_progress_dict(progress: ClassProgress) -> dict:
    return {
        "classroom": {"id": progress.classroom.pk, "name": progress.classroom.name},
        "total_cards": progress.total_cards,
        "students": [
            {
                "id": s.student.pk,
                "username": s.student.username,
                "name": s.student.get_full_name() or s.student.username,
                "last_active": s.last_active,
                "reviews_7d": s.reviews_7d,
                "backlog": s.backlog,
                "studied": s.studied,
                "mastered": s.mastered,
                "mastery": s.mastery,
                "leeches": s.leeches,
                "latest_test_scores": [
                    {"session": t.pk, "score": t.score, "cards": t.cards_studied, "ended_at": t.ended_at}
                    for t in s.tests
                ],
                "falling_behind": s.falling_behind,
                "behind_reason": s.behind_reason,
            }
            for s in progress.students
        ],
        "decks": [
            {
                "id": d.deck.pk,
                "title": d.deck.title,
                "hardest_cards": [
                    {
                        "card": h.card.pk,
                        "front": h.card.front,
                        "lapses": h.lapses,
                        "average_quality": h.average_quality,
                        "answers": h.answers,
                        "leech_students": h.leech_students,
                    }
                    for h in d.hardest
                ],
            }
            for d in progress.decks
        ],
        "leeches": [
            {"card": s.card_id, "deck": s.card.deck_id, "student": s.student_id, "lapses": s.lapses}
            for s in progress.leeches
        ],
    }
