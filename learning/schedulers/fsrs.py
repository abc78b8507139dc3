"""FSRS-6 behind the scheduler interface, through fsrs-rs-python. Pure Python.

fsrs-rs is the Rust implementation Anki itself uses; its Python binding has
the optimiser too, without PyTorch (see docs/scheduling.md for why this and
not py-fsrs). The library gives the memory state (stability, difficulty) and
the interval for each rating; this module adds what Anki adds around it:
(re)learning steps for new and lapsed cards, the maximum interval and fuzz.
With no steps and no fuzz, the due dates are exactly the library's
(tests/learning/test_schedulers_fsrs.py checks thousands of sequences).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache

import fsrs_rs_python

from learning.schedulers.base import (
    AGAIN,
    EASY,
    GOOD,
    HARD,
    LEARNING,
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

DEFAULT_PARAMETERS: tuple[float, ...] = tuple(fsrs_rs_python.DEFAULT_PARAMETERS)
PARAMETER_COUNT = len(DEFAULT_PARAMETERS)
# What Anki assumes SM-2 was aiming at when it converts ease and interval.
SM2_RETENTION = 0.9


@lru_cache(maxsize=64)
def model(parameters: tuple[float, ...] = DEFAULT_PARAMETERS) -> fsrs_rs_python.FSRS:
    return fsrs_rs_python.FSRS(list(parameters or DEFAULT_PARAMETERS))


def valid_parameters(parameters: Sequence[float]) -> tuple[float, ...]:
    """The 21 FSRS-6 parameters, or the defaults when none (or a wrong count) are given."""
    values = tuple(float(p) for p in parameters or ())
    return values if len(values) == PARAMETER_COUNT else DEFAULT_PARAMETERS


def retrievability(stability: float, days: float, parameters: Sequence[float] = DEFAULT_PARAMETERS) -> float:
    """FSRS-6's forgetting curve: R(t, S) = (1 + f·t/S)^−w20, with f chosen so
    that R(S, S) = 0.9."""
    decay = -valid_parameters(parameters)[20]
    factor = 0.9 ** (1 / decay) - 1
    return (1 + factor * max(0.0, days) / max(stability, 1e-6)) ** decay


class Fsrs:
    name = "fsrs"

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self.parameters = valid_parameters(self.options.fsrs_parameters)
        self.model = model(self.parameters)

    def memory_state(self, memory: Memory) -> fsrs_rs_python.MemoryState | None:
        """The card's FSRS memory; a card scheduled by SM-2 so far is converted
        from its ease and interval the way Anki does."""
        if memory.stability is not None and memory.difficulty is not None:
            return fsrs_rs_python.MemoryState(memory.stability, memory.difficulty)
        if memory.state == NEW or memory.interval <= 0:
            return None
        return self.model.memory_state_from_sm2(memory.ease, float(memory.interval), SM2_RETENTION)

    def recall(self, memory: Memory, now: datetime) -> float | None:
        """Predicted probability of recalling the card now."""
        state = self.memory_state(memory)
        if state is None or memory.last_review is None:
            return None
        days = (now - memory.last_review).total_seconds() / 86400
        return retrievability(state.stability, days, self.parameters)

    def answer(self, memory: Memory, quality: int, now: datetime, *, seed: int = 0) -> Memory:
        opts = self.options
        rating = rating_of(quality)
        states = self.model.next_states(self.memory_state(memory), opts.desired_retention, elapsed_days(memory, now))
        chosen = {AGAIN: states.again, HARD: states.hard, GOOD: states.good, EASY: states.easy}[rating]
        after = memory.evolve(
            reps=memory.reps + 1,
            last_review=now,
            stability=chosen.memory.stability,
            difficulty=chosen.memory.difficulty,
        )
        days = fuzzed(clamp(chosen.interval, opts), seed, enabled=opts.fuzz)
        if memory.state in (NEW, LEARNING, RELEARNING):
            steps = opts.relearning_steps if memory.state == RELEARNING else opts.learning_steps
            result = step_answer(steps, memory.step, rating)
            if not result.graduated:
                state = RELEARNING if memory.state == RELEARNING else LEARNING
                return after.evolve(state=state, step=result.step, due=now + result.delay)
            return self._review(after, days, now, passed=rating != AGAIN)
        if rating == AGAIN:
            lapsed = after.evolve(lapses=memory.lapses + 1, repetitions=0)
            if opts.relearning_steps:
                return lapsed.evolve(state=RELEARNING, step=0, interval=days, due=now + opts.relearning_steps[0])
            return self._review(lapsed, days, now, passed=False)
        return self._review(after, days, now, passed=True)

    @staticmethod
    def _review(memory: Memory, days: int, now: datetime, *, passed: bool) -> Memory:
        return memory.evolve(
            state=REVIEW,
            step=0,
            interval=days,
            repetitions=memory.repetitions + 1 if passed else 0,
            due=now + timedelta(days=days),
        )
