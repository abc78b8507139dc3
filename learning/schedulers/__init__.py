"""Schedulers, chosen per deck: SM-2 with learning steps ("sm2", the default),
FSRS-6 ("fsrs") and SM-2 as published ("sm2-published"). Pure Python; see
base.py for the interface."""

from __future__ import annotations

from learning.schedulers.base import Memory, Options, Scheduler, format_delay, previews
from learning.schedulers.fsrs import Fsrs
from learning.schedulers.published import Published
from learning.schedulers.sm2_steps import Sm2Steps

SM2 = "sm2"
FSRS = "fsrs"
SM2_PUBLISHED = "sm2-published"
CHOICES = (
    (SM2, "SM-2 with learning steps"),
    (FSRS, "FSRS-6 (memory model)"),
    (SM2_PUBLISHED, "SM-2 as published"),
)
DEFAULT = SM2


def scheduler_for(name: str, options: Options | None = None) -> Scheduler:
    if name == FSRS:
        return Fsrs(options)
    if name == SM2_PUBLISHED:
        return Published()
    return Sm2Steps(options)


__all__ = ["CHOICES", "DEFAULT", "Memory", "Options", "Scheduler", "format_delay", "previews", "scheduler_for"]
