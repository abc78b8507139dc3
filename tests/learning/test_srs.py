"""SM-2 against an independent implementation of the rules in the issue."""

from __future__ import annotations

import math
import random

import pytest

from learning.srs import NEW, Schedule, due_after, format_interval, sm2


def reference_sm2(reps: int, interval: int, ease: float, q: int) -> tuple[int, int, float]:
    """Written from the rules, not from learning.srs: a second pair of eyes."""
    if q >= 3:
        if reps == 0:
            new_interval = 1
        elif reps == 1:
            new_interval = 6
        else:
            new_interval = math.ceil(interval * ease)
        new_reps = reps + 1
    else:
        new_reps, new_interval = 0, 1
    new_ease = ease + (0.1 - (5 - q) * (0.08 + (5 - q) * 0.02))
    if new_ease < 1.3:
        new_ease = 1.3
    return new_reps, new_interval, new_ease


def test_new_card_schedule():
    assert Schedule(0, 0, 2.5) == NEW


@pytest.mark.parametrize("seed", range(40))
def test_matches_reference_on_random_answer_sequences(seed):
    rng = random.Random(seed)
    for _ in range(50):
        schedule = NEW
        expected = (0, 0, 2.5)
        for _ in range(rng.randint(1, 30)):
            q = rng.randint(0, 5)
            schedule = sm2(schedule, q)
            expected = reference_sm2(*expected, q)
            assert (schedule.repetitions, schedule.interval, schedule.ease) == expected


def test_first_intervals_are_1_then_6_then_interval_times_old_ease_rounded_up():
    s = sm2(NEW, 4)
    assert (s.repetitions, s.interval) == (1, 1)
    s = sm2(s, 4)
    assert (s.repetitions, s.interval) == (2, 6)
    s = sm2(s, 4)
    assert (s.repetitions, s.interval) == (3, 15)  # 6 * 2.5
    assert sm2(Schedule(2, 6, 2.36), 3).interval == 15  # 14.16 rounded up


def test_ease_uses_the_value_before_the_answer():
    # With q=5 the ease grows to 2.6, but the interval uses 2.5.
    assert sm2(Schedule(2, 10, 2.5), 5) == Schedule(3, 25, 2.6)


def test_failure_resets_repetitions_and_interval_and_still_updates_ease():
    s = sm2(Schedule(5, 40, 2.5), 1)
    assert (s.repetitions, s.interval) == (0, 1)
    assert s.ease == pytest.approx(2.5 - 0.54)


def test_ease_never_drops_below_1_3():
    s = NEW
    for _ in range(10):
        s = sm2(s, 0)
    assert s.ease == 1.3


@pytest.mark.parametrize("bad", [-1, 6, 3.0, "4", None, True])
def test_quality_outside_0_to_5_integers_is_refused(bad):
    with pytest.raises(ValueError):
        sm2(NEW, bad)


def test_schedule_is_frozen():
    with pytest.raises(AttributeError):
        NEW.interval = 3


def test_due_after_adds_interval_days_and_format():
    from datetime import UTC, datetime

    t = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert due_after(t, Schedule(2, 6, 2.5)) == datetime(2026, 1, 7, 12, tzinfo=UTC)
    assert [format_interval(d) for d in (1, 6, 15, 45, 400)] == ["1d", "6d", "15d", "1.5mo", "1.1y"]


def test_srs_module_does_not_import_django():
    import ast
    from pathlib import Path

    tree = ast.parse(Path("learning/srs.py").read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.startswith("django")]
