"""Review logs as FSRS sees them: per (student, card) histories of ratings
and whole days between answers, read from Review rows.

Used to convert SM-2 cards to FSRS (replaying their log), by the optimiser
(learning/fsrs_optimizer.py) and by the scheduler evaluation. Only answers
that changed a schedule count: re-drills, cram, practice and tests say
nothing about memory over days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import fsrs_rs_python
from django.db.models import QuerySet

from learning.models import CardState, Review
from learning.schedulers.base import rating_of
from learning.schedulers.fsrs import SM2_RETENTION, model, valid_parameters

# Days are counted from 4 am UTC, like Anki's default day start, so an
# evening session and the next morning's are different days.
DAY_OFFSET = timedelta(hours=4)


# One fit or evaluation reads at most this many of the latest counted reviews:
# plenty for FSRS, and a bounded cost however large a class's history grows.
MAX_REVIEWS = 200_000


def latest_reviews(reviews: QuerySet[Review]) -> QuerySet[Review]:
    counted = reviews.filter(changed_schedule=True)
    edge = counted.order_by("-id").values_list("id", flat=True)[MAX_REVIEWS : MAX_REVIEWS + 1]
    return counted.filter(id__gt=edge[0]) if edge else counted


def day_of(moment: datetime) -> date:
    return (moment - DAY_OFFSET).date()


@dataclass(frozen=True)
class Answer:
    at: datetime
    rating: int  # 1-4
    # SM-2's interval before the answer (for the SM-2 predictions in evaluation)
    interval_before: int = 0


History = list[Answer]


def histories(reviews: QuerySet[Review]) -> dict[tuple[int, int], History]:
    """{(student_id, card_id): answers in time order} from the counted reviews."""
    out: dict[tuple[int, int], History] = defaultdict(list)
    rows = (
        reviews.filter(changed_schedule=True, card__isnull=False)
        .order_by("student_id", "card_id", "reviewed_at", "id")
        .values_list("student_id", "card_id", "reviewed_at", "quality", "interval_before")
        .iterator(chunk_size=5000)
    )
    for student_id, card_id, at, quality, interval_before in rows:
        out[(student_id, card_id)].append(Answer(at, rating_of(quality), interval_before))
    return dict(out)


def day_gaps(history: Sequence[Answer]) -> list[int]:
    """Whole days between each answer and the one before (0 for the first)."""
    gaps, last = [], None
    for answer in history:
        day = day_of(answer.at)
        gaps.append(0 if last is None else (day - last).days)
        last = day
    return gaps


def fsrs_reviews(history: Sequence[Answer]) -> list[fsrs_rs_python.FSRSReview]:
    return [
        fsrs_rs_python.FSRSReview(answer.rating, gap) for answer, gap in zip(history, day_gaps(history), strict=True)
    ]


def training_items(history: Sequence[Answer]) -> list[tuple[datetime, fsrs_rs_python.FSRSItem]]:
    """One item per answer given on a later day than the one before, holding
    the history up to it (fsrs-rs's convention: the last review of an item is
    the one predicted), with the time of that answer for time-ordered splits."""
    reviews = fsrs_reviews(history)
    gaps = day_gaps(history)
    items = []
    for i in range(1, len(reviews)):
        if gaps[i] > 0:
            item = fsrs_rs_python.FSRSItem(reviews[: i + 1])
            if item.long_term_review_cnt() > 0:
                items.append((history[i].at, item))
    return items


def all_training_items(hists: Iterable[History]) -> list[tuple[datetime, fsrs_rs_python.FSRSItem]]:
    items = [item for history in hists for item in training_items(history)]
    items.sort(key=lambda pair: pair[0])
    return items


def memory_states_from_history(
    states: Sequence[CardState], *, parameters: Sequence[float] = ()
) -> dict[int, tuple[float, float]]:
    """{state id: (stability, difficulty)}: the memory FSRS reaches by
    replaying each card's log, or (no usable log) Anki's conversion of its
    ease and interval."""
    fsrs = model(valid_parameters(parameters))
    pairs = {(s.student_id, s.card_id) for s in states}
    students = {s for s, _ in pairs}
    cards = {c for _, c in pairs}
    logs = histories(Review.objects.filter(student_id__in=students, card_id__in=cards))
    out = {}
    for state in states:
        history = logs.get((state.student_id, state.card_id), [])
        memory = None
        if history:
            memory = fsrs.memory_state(fsrs_rs_python.FSRSItem(fsrs_reviews(history)))
        if memory is None or not memory.stability > 0:
            memory = fsrs.memory_state_from_sm2(state.ease, float(max(1, state.interval)), SM2_RETENTION)
        out[state.pk] = (memory.stability, memory.difficulty)
    return out
