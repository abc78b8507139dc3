"""Which scheduler predicts this class best: each scheduler scored on the
class's own review history, the way srs-benchmark does (see
learning/schedulers/metrics.py and docs/scheduling.md).

Time-ordered split: the reviews are put in time order; FSRS's parameters are
fitted only on the first 70 % (by time) and every scheduler is scored on the
reviews after that point, each predicted from the card's history before it.

Predictions:
- FSRS-6 (fitted on the earlier reviews, and with its default parameters):
  R = FSRS's forgetting curve at the days since the last review, from the
  memory state the history leads to;
- SM-2 (as published, and with learning steps): replayed over the same
  answers, R = 0.9^(t / I) with t the days since the last review and I the
  interval SM-2 had scheduled: the conversion srs-benchmark uses for SM-2
  (it assumes SM-2 aims at 90 % recall when a card comes due).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import fsrs_rs_python
from django.core.cache import cache
from django.db.models import Max, QuerySet

from learning import srs
from learning.fsrs_history import History, day_of, fsrs_reviews, histories, training_items
from learning.fsrs_optimizer import fit_parameters
from learning.models import Review
from learning.schedulers.base import AGAIN, REVIEW, Memory, Options
from learning.schedulers.fsrs import DEFAULT_PARAMETERS, model, retrievability
from learning.schedulers.metrics import CalibrationBin, Prediction, calibration, log_loss, rmse_bins
from learning.schedulers.sm2_steps import Sm2Steps

TRAIN_SHARE = 0.7
SM2_TARGET = 0.9
QUALITY_OF_RATING = {1: 1, 2: 3, 3: 4, 4: 5}
CACHE_SECONDS = 3600


@dataclass(frozen=True)
class SchedulerScore:
    key: str
    label: str
    count: int
    log_loss: float | None
    rmse: float | None
    calibration: list[CalibrationBin] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Evaluation:
    reviews: int  # answers that counted for a schedule
    train_reviews: int
    scored_reviews: int
    split_at: object  # datetime | None
    scores: list[SchedulerScore]

    @property
    def best(self) -> SchedulerScore | None:
        ranked = [s for s in self.scores if s.log_loss is not None]
        return min(ranked, key=lambda s: s.log_loss) if ranked else None

    def as_dict(self) -> dict:
        return {
            "reviews": self.reviews,
            "train_reviews": self.train_reviews,
            "scored_reviews": self.scored_reviews,
            "split_at": self.split_at.isoformat() if self.split_at else None,
            "best": self.best.key if self.best else None,
            "schedulers": [
                {
                    "key": s.key,
                    "label": s.label,
                    "count": s.count,
                    "log_loss": s.log_loss,
                    "rmse_bins": s.rmse,
                    "note": s.note,
                    "calibration": [
                        {"low": b.low, "high": b.high, "count": b.count, "predicted": b.predicted, "actual": b.actual}
                        for b in s.calibration
                    ],
                }
                for s in self.scores
            ],
        }


@dataclass(frozen=True)
class _Scored:
    """One review to score: where it sits in its history, and its facts."""

    index: int
    y: int
    delta_t: int
    lapses: int


def _targets(history: History, split_at: object) -> list[_Scored]:
    """The reviews of a history that are scored: on a later day than the one
    before, and at or after the split."""
    out, lapses, last_day = [], 0, None
    for i, answer in enumerate(history):
        day = day_of(answer.at)
        delta = None if last_day is None else (day - last_day).days
        if delta and answer.at >= split_at:
            out.append(_Scored(index=i, y=int(answer.rating != AGAIN), delta_t=delta, lapses=lapses))
        if delta and answer.rating == AGAIN:
            lapses += 1
        last_day = day
    return out


def _fsrs_predictions(
    hists: Sequence[History], targets: Sequence[list[_Scored]], parameters: Sequence[float]
) -> list[Prediction]:
    fsrs = model(tuple(parameters))
    out = []
    for history, scored in zip(hists, targets, strict=True):
        if not scored:
            continue
        states = fsrs.historical_memory_states(fsrs_rs_python.FSRSItem(fsrs_reviews(history)))
        for s in scored:
            p = retrievability(states[s.index - 1].stability, s.delta_t, parameters)
            out.append(Prediction(y=s.y, p=p, delta_t=s.delta_t, i=s.index + 1, lapses=s.lapses))
    return out


def _sm2_published_intervals(history: History) -> list[int]:
    """SM-2's scheduled interval (days) before each answer."""
    schedule, out = srs.NEW, []
    for answer in history:
        out.append(schedule.interval)
        schedule = srs.sm2(schedule, QUALITY_OF_RATING[answer.rating])
    return out


def _sm2_steps_intervals(history: History) -> list[int]:
    scheduler, memory, out = Sm2Steps(Options(fuzz=False)), Memory(), []
    for answer in history:
        out.append(memory.interval if memory.state == REVIEW else max(1, memory.interval))
        memory = scheduler.answer(memory, QUALITY_OF_RATING[answer.rating], answer.at)
    return out


def _sm2_predictions(
    hists: Sequence[History], targets: Sequence[list[_Scored]], intervals_of: Callable[[History], list[int]]
) -> list[Prediction]:
    out = []
    for history, scored in zip(hists, targets, strict=True):
        if not scored:
            continue
        intervals = intervals_of(history)
        for s in scored:
            interval = max(1, intervals[s.index])
            p = SM2_TARGET ** (s.delta_t / interval)
            out.append(Prediction(y=s.y, p=p, delta_t=s.delta_t, i=s.index + 1, lapses=s.lapses))
    return out


def _score(key: str, label: str, predictions: list[Prediction], note: str = "") -> SchedulerScore:
    if not predictions:
        return SchedulerScore(key, label, 0, None, None, [], note or "No reviews to score yet.")
    return SchedulerScore(
        key, label, len(predictions), log_loss(predictions), rmse_bins(predictions), calibration(predictions), note
    )


def evaluate(reviews: QuerySet[Review]) -> Evaluation:
    hists = list(histories(reviews).values())
    total = sum(len(h) for h in hists)
    times = sorted(a.at for h in hists for a in h)
    if not times:
        return Evaluation(0, 0, 0, None, [])
    split_at = times[min(len(times) - 1, int(len(times) * TRAIN_SHARE))]
    train = [item for h in hists for at, item in training_items(h) if at < split_at]
    targets = [_targets(h, split_at) for h in hists]
    fitted = fit_parameters(train) if train else None
    scores = []
    if fitted is not None:
        scores.append(
            _score("fsrs-fitted", "FSRS-6, fitted on the earlier reviews", _fsrs_predictions(hists, targets, fitted))
        )
    else:
        scores.append(
            SchedulerScore(
                "fsrs-fitted",
                "FSRS-6, fitted on the earlier reviews",
                0,
                None,
                None,
                [],
                f"Not enough earlier reviews to fit ({len(train)} usable); FSRS keeps its defaults.",
            )
        )
    scores.append(
        _score("fsrs-default", "FSRS-6, default parameters", _fsrs_predictions(hists, targets, DEFAULT_PARAMETERS))
    )
    scores.append(_score("sm2", "SM-2 with learning steps", _sm2_predictions(hists, targets, _sm2_steps_intervals)))
    scores.append(
        _score("sm2-published", "SM-2 as published", _sm2_predictions(hists, targets, _sm2_published_intervals))
    )
    scored = max((s.count for s in scores), default=0)
    return Evaluation(total, sum(1 for t in times if t < split_at), scored, split_at, scores)


def cache_key(key: str, reviews: QuerySet[Review]) -> str:
    """Changes with every new review, so a cached result is never stale."""
    latest = reviews.aggregate(latest=Max("id"))["latest"]
    return f"scheduler-eval:{key}:{latest}"


def cached(key: str, reviews: QuerySet[Review]) -> Evaluation | None:
    return cache.get(cache_key(key, reviews))


def evaluate_and_cache(key: str, reviews: QuerySet[Review]) -> Evaluation:
    evaluation = evaluate(reviews)
    cache.set(cache_key(key, reviews), evaluation, CACHE_SECONDS)
    return evaluation
