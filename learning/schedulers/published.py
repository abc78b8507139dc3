"""SM-2 as published (learning.srs.sm2) behind the scheduler interface.

No learning steps: every answer gives a whole number of days. A failed
answer on a card already learnt counts a lapse. The session keeps SM-2's
rule 7 for these decks (an answer below 4 comes back at the end of the
session without changing the schedule again)."""

from __future__ import annotations

from datetime import datetime

from learning import srs
from learning.schedulers.base import NEW, REVIEW, Memory


class Published:
    name = "sm2-published"

    def answer(self, memory: Memory, quality: int, now: datetime, *, seed: int = 0) -> Memory:
        before = srs.Schedule(memory.repetitions, memory.interval, memory.ease)
        after = srs.sm2(before, quality)
        lapsed = quality < srs.PASSING_QUALITY and memory.state != NEW
        return memory.evolve(
            state=REVIEW,
            step=0,
            repetitions=after.repetitions,
            interval=after.interval,
            ease=after.ease,
            lapses=memory.lapses + int(lapsed),
            reps=memory.reps + 1,
            last_review=now,
            due=srs.due_after(now, after),
        )
