"""SM-2 spaced repetition (Woźniak, 1990), pure Python: no Django here.

The rules, exactly as the product specifies them:

- quality is an integer 0-5; anything else raises ValueError;
- quality >= 3: the interval becomes 1 when repetitions is 0, 6 when it is 1,
  otherwise the previous interval times the ease from *before* this answer,
  rounded up to a whole day; then repetitions increases by 1;
- quality < 3: repetitions becomes 0 and the interval 1;
- after every answer, failed ones included, the ease becomes
  ease + (0.1 - (5 - q) * (0.08 + (5 - q) * 0.02)), never below 1.3;
- the card is next due `interval` days after the answer (see `due_after`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_EASE = 1.3
START_EASE = 2.5
PASSING_QUALITY = 3
# Rule 7: in a session, a card answered below this comes back until it reaches it.
REDRILL_BELOW = 4


@dataclass(frozen=True)
class Schedule:
    repetitions: int
    interval: int  # days
    ease: float


NEW = Schedule(0, 0, START_EASE)


def validate_quality(quality: object) -> int:
    # bool is an int subclass; True is not a grade.
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 5:
        raise ValueError(f"quality must be an integer from 0 to 5, not {quality!r}")
    return quality


def next_ease(ease: float, quality: int) -> float:
    miss = 5 - quality
    return max(MIN_EASE, ease + (0.1 - miss * (0.08 + miss * 0.02)))


def sm2(schedule: Schedule, quality: int) -> Schedule:
    """The schedule after answering a card with the given quality."""
    quality = validate_quality(quality)
    if quality >= PASSING_QUALITY:
        if schedule.repetitions == 0:
            interval = 1
        elif schedule.repetitions == 1:
            interval = 6
        else:
            # Plain float arithmetic, exactly as the rule reads; the ease is
            # stored as a double so a reloaded schedule gives the same result.
            interval = math.ceil(schedule.interval * schedule.ease)
        repetitions = schedule.repetitions + 1
    else:
        interval = 1
        repetitions = 0
    return Schedule(repetitions=repetitions, interval=interval, ease=next_ease(schedule.ease, quality))


def due_after(answered_at: datetime, schedule: Schedule) -> datetime:
    return answered_at + timedelta(days=schedule.interval)


def format_interval(days: int) -> str:
    """'1d', '6d', '3mo', '1.2y': short enough for an answer button."""
    if days < 30:
        return f"{days}d"
    if days < 365:
        return f"{days / 30:.1f}".rstrip("0").rstrip(".") + "mo"
    return f"{days / 365:.1f}".rstrip("0").rstrip(".") + "y"
