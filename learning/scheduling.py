"""The Django side of the schedulers: CardState rows ⇄ `schedulers.Memory`,
a deck's options, previews for the answer buttons, and the undo snapshot.

The schedulers themselves are pure (learning/schedulers/); this module is the
only place that knows how their state is stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils.dateparse import parse_datetime

from learning import schedulers
from learning.models import CardState, Deck
from learning.schedulers.base import BUTTON_QUALITIES, IN_STEPS, Memory, Options, parse_steps
from learning.schedulers.fsrs import Fsrs

# What one scheduled answer changes on a CardState (and what Undo puts back).
STATE_FIELDS = [
    "status",
    "step",
    "repetitions",
    "interval",
    "ease",
    "due_at",
    "lapses",
    "reviews_count",
    "last_reviewed_at",
    "stability",
    "difficulty",
    "suspended",
]


def options_for(deck: Deck) -> Options:
    """The deck's options as the pure schedulers take them. Steps were
    validated when saved; a bad value written around the form falls back to
    the defaults rather than breaking the study page."""
    defaults = Options()
    try:
        learning_steps = parse_steps(deck.learning_steps)
    except ValueError:
        learning_steps = defaults.learning_steps
    try:
        relearning_steps = parse_steps(deck.relearning_steps)
    except ValueError:
        relearning_steps = defaults.relearning_steps
    return Options(
        learning_steps=learning_steps,
        relearning_steps=relearning_steps,
        graduating_interval=deck.graduating_interval,
        easy_interval=deck.easy_interval,
        starting_ease=deck.starting_ease,
        hard_multiplier=deck.hard_multiplier,
        easy_bonus=deck.easy_bonus,
        lapse_multiplier=deck.lapse_multiplier,
        maximum_interval=max(1, deck.maximum_interval),
        fuzz=deck.fuzz,
        desired_retention=deck.desired_retention,
        fsrs_parameters=tuple(deck.fsrs_parameters or ()),
    )


def scheduler_of(deck: Deck) -> schedulers.Scheduler:
    return schedulers.scheduler_for(deck.scheduler, options_for(deck))


def uses_steps(deck: Deck) -> bool:
    """Decks whose cards come back within a session by learning steps; SM-2
    as published uses rule 7's re-drills instead."""
    return deck.scheduler != schedulers.SM2_PUBLISHED


# CardState fields a Memory is read from (Memory's own name where it differs).
MEMORY_FIELDS = {
    "status": "state",
    "step": "step",
    "due_at": "due",
    "interval": "interval",
    "ease": "ease",
    "lapses": "lapses",
    "reviews_count": "reps",
    "repetitions": "repetitions",
    "stability": "stability",
    "difficulty": "difficulty",
    "last_reviewed_at": "last_review",
}


def memory_of(state: object | None, *, prefix: str = "") -> Memory:
    """A CardState (or a row annotated with its fields under `prefix`, as the
    next-card query does) as the schedulers' Memory; None is a new card."""
    if state is None:
        return Memory()
    return Memory(**{memory: getattr(state, prefix + field) for field, memory in MEMORY_FIELDS.items()})


def store(state: CardState, memory: Memory) -> None:
    """Write a scheduler's memory onto the row (not saved)."""
    for field, name in MEMORY_FIELDS.items():
        setattr(state, field, getattr(memory, name))


def fuzz_seed(card_id: int, memory: Memory) -> int:
    """The same card at the same answer count always gets the same fuzz, so
    the preview on a button is what pressing it gives."""
    return card_id * 1009 + memory.reps


def previews(deck: Deck, card_id: int, memory: Memory, now: datetime) -> dict[int, timedelta]:
    scheduler = scheduler_of(deck)
    seed = fuzz_seed(card_id, memory)
    return {q: scheduler.answer(memory, q, now, seed=seed).due - now for q in BUTTON_QUALITIES}


def recall(deck: Deck, memory: Memory, now: datetime) -> float | None:
    """FSRS's predicted recall of the card now (None for SM-2 decks and new cards)."""
    if deck.scheduler != schedulers.FSRS:
        return None
    return Fsrs(options_for(deck)).recall(memory, now)


def in_steps(status: str) -> bool:
    return status in IN_STEPS


# --- Undo -----------------------------------------------------------------------


def snapshot(state: CardState | None) -> dict[str, Any] | None:
    """The state's scheduling fields as JSON (None: there was no state)."""
    if state is None or state.pk is None:
        return None
    out: dict[str, Any] = {}
    for name in STATE_FIELDS:
        value = getattr(state, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def restore(state: CardState, saved: dict[str, Any]) -> None:
    for name in STATE_FIELDS:
        value = saved.get(name)
        if name in ("due_at", "last_reviewed_at") and isinstance(value, str):
            value = parse_datetime(value)
        setattr(state, name, value)
