"""SM-2 with learning steps: the scheduler Anki users know. Pure Python.

- new and learning cards go through the learning steps (default 1m 10m);
  graduating gives the graduating interval (1 day), Easy the easy interval
  (4 days), and the card starts with the starting ease (2.5);
- on a review card, with d the days late: Hard = interval × 1.2,
  Good = (interval + d/2) × ease, Easy = (interval + d) × ease × 1.3, each
  at least a day more than the button before (Hard at least a day more than
  the interval); ease −0.15 on Hard, +0.15 on Easy, −0.20 on a lapse, never
  below 1.3;
- a lapse (Again on a review card) counts a lapse, goes to the relearning
  steps (default 10m) and comes back with interval × the lapse multiplier
  (default 0, so 1 day);
- intervals of 3 days or more get a small deterministic fuzz; every interval
  is capped at the maximum (36,500 days).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from learning.schedulers.base import (
    AGAIN,
    EASY,
    GOOD,
    HARD,
    LEARNING,
    MIN_EASE,
    NEW,
    RELEARNING,
    REVIEW,
    Memory,
    Options,
    clamp,
    elapsed_days,
    fuzzed,
    rating_of,
    step_answer,
)

HARD_EASE_DELTA = -0.15
EASY_EASE_DELTA = 0.15
LAPSE_EASE_DELTA = -0.20


class Sm2Steps:
    name = "sm2"

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()

    def answer(self, memory: Memory, quality: int, now: datetime, *, seed: int = 0) -> Memory:
        rating = rating_of(quality)
        counted = memory.evolve(reps=memory.reps + 1, last_review=now)
        if memory.state in (NEW, LEARNING):
            return self._learning(counted, rating, now)
        if memory.state == RELEARNING:
            return self._relearning(counted, rating, now)
        return self._review(counted, memory, rating, now, seed)

    def _learning(self, memory: Memory, rating: int, now: datetime) -> Memory:
        opts = self.options
        ease = opts.starting_ease if memory.state == NEW else memory.ease
        result = step_answer(opts.learning_steps, memory.step, rating)
        if not result.graduated:
            return memory.evolve(state=LEARNING, step=result.step, due=now + result.delay, ease=ease)
        days = opts.easy_interval if result.easy else opts.graduating_interval
        days = int(min(opts.maximum_interval, max(1, days)))
        return memory.evolve(
            state=REVIEW, step=0, interval=days, ease=ease, repetitions=1, due=now + timedelta(days=days)
        )

    def _relearning(self, memory: Memory, rating: int, now: datetime) -> Memory:
        opts = self.options
        result = step_answer(opts.relearning_steps, memory.step, rating)
        if not result.graduated:
            return memory.evolve(state=RELEARNING, step=result.step, due=now + result.delay)
        days = max(1, memory.interval) + (1 if result.easy else 0)
        days = int(min(opts.maximum_interval, days))
        return memory.evolve(state=REVIEW, step=0, interval=days, repetitions=1, due=now + timedelta(days=days))

    def _review(self, memory: Memory, before: Memory, rating: int, now: datetime, seed: int) -> Memory:
        opts = self.options
        interval = max(1, before.interval)
        if rating == AGAIN:
            ease = max(MIN_EASE, before.ease + LAPSE_EASE_DELTA)
            days = clamp(interval * opts.lapse_multiplier, opts)
            lapsed = memory.evolve(lapses=before.lapses + 1, ease=ease, interval=days, repetitions=0, step=0)
            if opts.relearning_steps:
                return lapsed.evolve(state=RELEARNING, due=now + opts.relearning_steps[0])
            return lapsed.evolve(state=REVIEW, due=now + timedelta(days=days))
        days = self.review_intervals(before, now, seed)[rating]
        delta = {HARD: HARD_EASE_DELTA, EASY: EASY_EASE_DELTA}.get(rating, 0.0)
        return memory.evolve(
            state=REVIEW,
            step=0,
            interval=days,
            ease=max(MIN_EASE, before.ease + delta),
            repetitions=before.repetitions + 1,
            due=now + timedelta(days=days),
        )

    def review_intervals(self, memory: Memory, now: datetime, seed: int = 0) -> dict[int, int]:
        """Hard, Good and Easy intervals (days) for a review card, strictly
        increasing below the maximum."""
        opts = self.options
        interval = max(1, memory.interval)
        # Days late from the due date (Anki's rule), or from the last review
        # when the due date is unknown.
        if memory.due is not None:
            late = max(0, (now - memory.due).days)
        else:
            late = max(0, elapsed_days(memory, now) - interval) if memory.last_review else 0
        floor = interval + 1 if opts.hard_multiplier > 1 else interval
        hard = min(
            opts.maximum_interval,
            max(fuzzed(clamp(interval * opts.hard_multiplier, opts), seed, enabled=opts.fuzz), floor),
        )
        good = fuzzed(clamp((interval + late / 2) * memory.ease, opts), seed, enabled=opts.fuzz)
        good = min(opts.maximum_interval, max(good, hard + 1))
        easy = fuzzed(clamp((interval + late) * memory.ease * opts.easy_bonus, opts), seed, enabled=opts.fuzz)
        easy = min(opts.maximum_interval, max(easy, good + 1))
        return {HARD: hard, GOOD: good, EASY: easy}
