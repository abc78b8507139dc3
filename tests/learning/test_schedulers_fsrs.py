"""Our FSRS scheduler against fsrs-rs-python called directly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import fsrs_rs_python
import pytest

from learning.schedulers import Memory, Options, format_delay, previews
from learning.schedulers.base import LEARNING, RELEARNING, REVIEW
from learning.schedulers.fsrs import DEFAULT_PARAMETERS, Fsrs, retrievability

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def reference_due_dates(answers: list[tuple[int, float]], retention: float, parameters) -> list[tuple[datetime, float]]:
    """The library alone: one next_states call per answer, interval rounded,
    at least a day, at most 36,500 days."""
    fsrs = fsrs_rs_python.FSRS(list(parameters))
    memory, last, out = None, None, []
    for rating, gap_days in answers:
        now = T0 if last is None else last + timedelta(days=gap_days)
        elapsed = 0 if last is None else (now - last).days
        states = fsrs.next_states(memory, retention, elapsed)
        chosen = [states.again, states.hard, states.good, states.easy][rating - 1]
        days = max(1, min(36500, round(chosen.interval)))
        memory, last = chosen.memory, now
        out.append((now + timedelta(days=days), chosen.memory.stability))
    return out


QUALITY_OF_RATING = {1: 1, 2: 3, 3: 4, 4: 5}


@pytest.mark.parametrize("chunk", range(4))
def test_due_dates_equal_the_library_on_thousands_of_random_sequences(chunk):
    rng = random.Random(1000 + chunk)
    checked = 0
    for _ in range(500):
        retention = rng.choice([0.7, 0.8, 0.9, 0.95, 0.97])
        parameters = DEFAULT_PARAMETERS
        if rng.random() < 0.3:
            parameters = tuple(p * rng.uniform(0.9, 1.1) for p in DEFAULT_PARAMETERS)
        answers = [(rng.choice([1, 2, 3, 3, 3, 4]), rng.uniform(0, 60)) for _ in range(rng.randint(1, 15))]
        expected = reference_due_dates(answers, retention, parameters)
        sched = Fsrs(
            Options(
                learning_steps=(),
                relearning_steps=(),
                fuzz=False,
                desired_retention=retention,
                fsrs_parameters=fsrs_rs_python.check_and_fill_parameters(list(parameters)),
            )
        )
        memory, last = Memory(), None
        for (rating, gap_days), (due, stability) in zip(answers, expected, strict=True):
            now = T0 if last is None else last + timedelta(days=gap_days)
            memory = sched.answer(memory, QUALITY_OF_RATING[rating], now)
            assert memory.due == due
            assert memory.stability == pytest.approx(stability, rel=1e-6)
            last = now
            checked += 1
    assert checked > 3000


def test_new_card_with_default_steps_shows_minutes_then_days():
    shown = previews(Fsrs(), Memory(), T0)
    assert [format_delay(shown[q]) for q in (1, 3, 4)] == ["<1m", "<6m", "<10m"]
    assert shown[5] >= timedelta(days=1)


def test_learning_then_review_then_lapse_to_relearning():
    sched = Fsrs()
    first = sched.answer(Memory(), 4, T0)
    assert first.state == LEARNING and first.stability is not None
    graduated = sched.answer(first, 4, T0 + timedelta(minutes=10))
    assert graduated.state == REVIEW and graduated.interval >= 1
    later = graduated.due
    lapsed = sched.answer(graduated, 1, later)
    assert (lapsed.state, lapsed.lapses, lapsed.due - later) == (RELEARNING, 1, timedelta(minutes=10))


def test_an_sm2_card_is_converted_from_ease_and_interval():
    sched = Fsrs()
    card = Memory(state=REVIEW, interval=20, ease=2.5, last_review=T0 - timedelta(days=20), repetitions=3, reps=4)
    state = sched.memory_state(card)
    assert state.stability == pytest.approx(20.0, rel=0.01)
    assert sched.recall(card, T0) == pytest.approx(0.9, abs=0.01)
    shown = previews(sched, card, T0)
    assert shown[3] < shown[4] < shown[5]


def test_retrievability_is_ninety_percent_at_the_stability():
    assert retrievability(12.0, 12.0) == pytest.approx(0.9)
    assert retrievability(12.0, 0.0) == pytest.approx(1.0)
    assert retrievability(12.0, 100.0) < retrievability(12.0, 50.0) < 0.9
