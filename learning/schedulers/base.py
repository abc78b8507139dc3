"""The scheduler interface, pure Python: no Django here.

A scheduler takes a card's memory (its state for one student) and an answer
and gives the next memory, including when the card is due again. Three
implementations live beside this module: SM-2 with learning steps
(`sm2_steps`), FSRS-6 (`fsrs`) and SM-2 as published (`published`, a thin
wrapper over `learning.srs.sm2`). The Django layer (`learning.scheduling`)
maps CardState rows to `Memory` and back.

Answers are the product's qualities 0-5 (the buttons Again, Hard, Good, Easy
send 1, 3, 4, 5); schedulers that think in four ratings use `rating_of`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

NEW = "new"
LEARNING = "learning"
REVIEW = "review"
RELEARNING = "relearning"
STATES = (NEW, LEARNING, REVIEW, RELEARNING)
# States a card is in while its next showing is minutes away (learning steps).
IN_STEPS = (LEARNING, RELEARNING)

AGAIN, HARD, GOOD, EASY = 1, 2, 3, 4
# The four buttons and the quality each sends (DESIGN.md's contract).
BUTTON_QUALITIES = (1, 3, 4, 5)


def rating_of(quality: int) -> int:
    """Quality 0-5 as one of four ratings: below 3 is Again, 3 Hard, 4 Good, 5 Easy."""
    if quality < 3:
        return AGAIN
    return {3: HARD, 4: GOOD}.get(quality, EASY)


@dataclass(frozen=True)
class Memory:
    """Everything a scheduler knows about one student's card.

    `interval` is in whole days and is the last review interval (kept while
    the card is in learning steps, so a lapse knows what it came from);
    `repetitions` is SM-2's run of passing answers (srs.Schedule's), `reps`
    the number of answers that counted. `stability`/`difficulty` are FSRS's
    and stay None until FSRS has seen the card.
    """

    state: str = NEW
    step: int = 0
    due: datetime | None = None
    interval: int = 0
    ease: float = 2.5
    lapses: int = 0
    reps: int = 0
    repetitions: int = 0
    stability: float | None = None
    difficulty: float | None = None
    last_review: datetime | None = None

    def evolve(self, **changes: object) -> Memory:
        return replace(self, **changes)


@dataclass(frozen=True)
class Options:
    """A deck's scheduling options, with Anki's defaults."""

    learning_steps: tuple[timedelta, ...] = (timedelta(minutes=1), timedelta(minutes=10))
    relearning_steps: tuple[timedelta, ...] = (timedelta(minutes=10),)
    graduating_interval: int = 1
    easy_interval: int = 4
    starting_ease: float = 2.5
    hard_multiplier: float = 1.2
    easy_bonus: float = 1.3
    # New interval after a lapse, as a share of the old one (0 → 1 day).
    lapse_multiplier: float = 0.0
    minimum_interval: int = 1
    maximum_interval: int = 36500
    fuzz: bool = True
    desired_retention: float = 0.9
    fsrs_parameters: tuple[float, ...] = field(default_factory=tuple)


MIN_EASE = 1.3
DESIRED_RETENTION_RANGE = (0.70, 0.97)
MAX_STEPS = 10
_STEP = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_steps(text: str) -> tuple[timedelta, ...]:
    """'1m 10m 1h' → the delays. Units s, m, h, d; a bare number is minutes
    (as in Anki). Raises ValueError with a sentence a teacher can act on."""
    steps = []
    for token in (text or "").replace(",", " ").split():
        token = token.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            token += "m"
        match = _STEP.match(token)
        if not match:
            raise ValueError(f"{token!r} is not a step: write a number and a unit, like 1m 10m 1h 1d.")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        if not 1 <= seconds <= 30 * 86400:
            raise ValueError(f"{token!r}: each step must be between 1 second and 30 days.")
        steps.append(timedelta(seconds=round(seconds)))
    if len(steps) > MAX_STEPS:
        raise ValueError(f"At most {MAX_STEPS} steps.")
    return tuple(steps)


def format_steps(steps: tuple[timedelta, ...]) -> str:
    out = []
    for step in steps:
        seconds = int(step.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size and seconds % size == 0:
                out.append(f"{seconds // size}{unit}")
                break
        else:
            out.append(f"{seconds}s")
    return " ".join(out)


def format_delay(delay: timedelta) -> str:
    """What an answer button says: '<1m', '<6m', '<10m', '2h', '4d', '3.2mo', '1.5y'.

    Delays under a day are shown as upper bounds ('<10m'), as Anki does:
    learning cards may come back a little early when nothing else is left.
    """
    seconds = delay.total_seconds()
    if seconds < 3600:
        return f"<{max(1, math.ceil(seconds / 60))}m"
    if seconds < 86400:
        return f"{_short(seconds / 3600)}h"
    days = seconds / 86400
    if days < 30:
        return f"{round(days)}d"
    if days < 365:
        return f"{_short(days / 30)}mo"
    return f"{_short(days / 365)}y"


def _short(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


class Scheduler(Protocol):
    name: str

    def answer(self, memory: Memory, quality: int, now: datetime, *, seed: int = 0) -> Memory:
        """The memory after answering with `quality` at `now`."""
        ...


def previews(scheduler: Scheduler, memory: Memory, now: datetime, *, seed: int = 0) -> dict[int, timedelta]:
    """What each button would do: quality → delay until the card is due."""
    return {q: scheduler.answer(memory, q, now, seed=seed).due - now for q in BUTTON_QUALITIES}


def elapsed_days(memory: Memory, now: datetime) -> int:
    """Whole days since the last review (0 on the same day or for a new card)."""
    if memory.last_review is None:
        return 0
    return max(0, (now - memory.last_review).days)


def fuzzed(interval: int, seed: int, *, enabled: bool) -> int:
    """Anki's fuzz: intervals of 3 days or more move by a few percent so cards
    learned together spread out. Deterministic in `seed` (the card and the
    answer count), so the button preview is exactly what the answer gives."""
    if not enabled or interval < 3:
        return interval
    delta = 1.0
    for start, end, factor in ((2.5, 7.0, 0.15), (7.0, 20.0, 0.1), (20.0, math.inf, 0.05)):
        delta += factor * max(0.0, min(interval, end) - start)
    low, high = max(2, round(interval - delta)), round(interval + delta)
    # A small multiplicative hash (Knuth): stable across runs and processes,
    # unlike hash(); spreads consecutive seeds over the range.
    spot = ((seed * 2654435761) & 0xFFFFFFFF) / 0x100000000
    return low + int(spot * (high - low + 1))


def clamp(interval: float, options: Options) -> int:
    return int(min(options.maximum_interval, max(options.minimum_interval, round(interval))))


@dataclass(frozen=True)
class StepResult:
    """Where a learning-step answer leaves the card: at `step`, due after
    `delay`, or graduated (then `easy` says whether by Easy)."""

    graduated: bool
    step: int = 0
    delay: timedelta = timedelta(0)
    easy: bool = False


def step_answer(steps: tuple[timedelta, ...], step: int, rating: int) -> StepResult:
    """Anki's (re)learning steps: Again goes back to the first step, Hard
    repeats the current one (on the first step: halfway to the second, or
    1.5× a single step, at most a day more), Good moves on or graduates after
    the last step, Easy graduates at once."""
    if not steps or rating == EASY:
        return StepResult(graduated=True, easy=rating == EASY)
    step = min(step, len(steps) - 1)
    if rating == AGAIN:
        return StepResult(graduated=False, step=0, delay=steps[0])
    if rating == HARD:
        if step > 0:
            delay = steps[step]
        elif len(steps) > 1:
            delay = (steps[0] + steps[1]) / 2
        else:
            delay = min(steps[0] * 1.5, steps[0] + timedelta(days=1))
        return StepResult(graduated=False, step=step, delay=delay)
    if step + 1 < len(steps):
        return StepResult(graduated=False, step=step + 1, delay=steps[step + 1])
    return StepResult(graduated=True)
