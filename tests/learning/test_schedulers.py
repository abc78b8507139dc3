"""The pure schedulers: SM-2 with learning steps, SM-2 as published, and the shared pieces."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from learning import srs
from learning.schedulers import Memory, Options, format_delay, previews, scheduler_for
from learning.schedulers.base import (
    LEARNING,
    NEW,
    RELEARNING,
    REVIEW,
    format_steps,
    fuzzed,
    parse_steps,
    rating_of,
)
from learning.schedulers.published import Published
from learning.schedulers.sm2_steps import Sm2Steps

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def review_card(interval: int = 30, ease: float = 2.5, days_since: int | None = None, **extra) -> Memory:
    days_since = interval if days_since is None else days_since
    return Memory(
        state=REVIEW,
        interval=interval,
        ease=ease,
        last_review=NOW - timedelta(days=days_since),
        due=NOW - timedelta(days=days_since - interval),
        repetitions=4,
        reps=6,
        **extra,
    )


def test_new_card_previews_are_strictly_increasing_and_the_first_three_are_minutes():
    shown = previews(Sm2Steps(), Memory(), NOW)
    delays = [shown[q] for q in (1, 3, 4, 5)]
    assert delays == sorted(delays) and len(set(delays)) == 4
    assert all(d < timedelta(hours=1) for d in delays[:3])
    assert [format_delay(d) for d in delays] == ["<1m", "<6m", "<10m", "4d"]


def test_learning_steps_walk_then_graduate_with_the_graduating_interval():
    sched = Sm2Steps()
    first = sched.answer(Memory(), 4, NOW)
    assert (first.state, first.step, first.due - NOW) == (LEARNING, 1, 10 * MINUTE)
    assert first.ease == 2.5 and first.reps == 1
    graduated = sched.answer(first, 4, NOW + 10 * MINUTE)
    assert (graduated.state, graduated.interval, graduated.repetitions) == (REVIEW, 1, 1)
    assert graduated.due == NOW + 10 * MINUTE + timedelta(days=1)


def test_again_in_learning_goes_back_to_the_first_step_and_hard_repeats():
    sched = Sm2Steps()
    at_two = sched.answer(Memory(), 4, NOW)
    again = sched.answer(at_two, 1, NOW)
    assert (again.step, again.due - NOW) == (0, MINUTE)
    hard = sched.answer(at_two, 3, NOW)
    assert (hard.step, hard.due - NOW) == (1, 10 * MINUTE)


def test_easy_on_a_new_card_graduates_at_once_with_the_easy_interval():
    easy = Sm2Steps().answer(Memory(), 5, NOW)
    assert (easy.state, easy.interval, easy.due) == (REVIEW, 4, NOW + timedelta(days=4))


@pytest.mark.parametrize("seed", range(30))
def test_review_hard_good_easy_strictly_increase_and_follow_the_formulas(seed):
    sched = Sm2Steps(Options(fuzz=False))
    card = review_card(interval=10 + seed, ease=2.5)
    got = {q: sched.answer(card, q, NOW).interval for q in (3, 4, 5)}
    assert got[3] < got[4] < got[5]
    assert got[3] == max(round(card.interval * 1.2), card.interval + 1)
    assert got[4] == round(card.interval * 2.5)
    assert got[5] == round(card.interval * 2.5 * 1.3)


def test_fuzz_keeps_the_order_and_stays_near_the_interval():
    sched = Sm2Steps()
    for seed in range(200):
        card = review_card(interval=20)
        got = {q: sched.answer(card, q, NOW, seed=seed).interval for q in (3, 4, 5)}
        assert got[3] < got[4] < got[5]
        assert abs(got[4] - 50) <= 4
    assert len({fuzzed(50, s, enabled=True) for s in range(100)}) > 3
    assert fuzzed(2, 5, enabled=True) == 2 and fuzzed(50, 5, enabled=False) == 50


def test_a_card_answered_late_gets_a_longer_good_interval():
    sched = Sm2Steps(Options(fuzz=False))
    on_time = sched.answer(review_card(interval=10, days_since=10), 4, NOW)
    late = sched.answer(review_card(interval=10, days_since=40), 4, NOW)
    assert on_time.interval == 25
    assert late.interval == round((10 + 30 / 2) * 2.5) > on_time.interval
    easy_late = sched.answer(review_card(interval=10, days_since=40), 5, NOW)
    assert easy_late.interval == round((10 + 30) * 2.5 * 1.3)


def test_ease_moves_by_the_published_steps_and_never_below_the_floor():
    sched = Sm2Steps(Options(fuzz=False))
    assert sched.answer(review_card(ease=2.5), 3, NOW).ease == pytest.approx(2.35)
    assert sched.answer(review_card(ease=2.5), 4, NOW).ease == pytest.approx(2.5)
    assert sched.answer(review_card(ease=2.5), 5, NOW).ease == pytest.approx(2.65)
    assert sched.answer(review_card(ease=2.5), 1, NOW).ease == pytest.approx(2.3)
    assert sched.answer(review_card(ease=1.35), 1, NOW).ease == pytest.approx(1.3)


def test_a_lapse_goes_to_a_ten_minute_relearning_step_then_one_day():
    sched = Sm2Steps()
    lapsed = sched.answer(review_card(interval=200, lapses=2), 1, NOW)
    assert (lapsed.state, lapsed.step, lapsed.due - NOW) == (RELEARNING, 0, 10 * MINUTE)
    assert (lapsed.lapses, lapsed.interval, lapsed.repetitions) == (3, 1, 0)
    back = sched.answer(lapsed, 4, NOW + 10 * MINUTE)
    assert (back.state, back.interval) == (REVIEW, 1)
    # Failing again while relearning is not another lapse.
    assert sched.answer(lapsed, 1, NOW).lapses == 3


def test_lapse_multiplier_and_maximum_interval_are_options():
    sched = Sm2Steps(Options(lapse_multiplier=0.5, maximum_interval=100, fuzz=False, relearning_steps=()))
    lapsed = sched.answer(review_card(interval=60), 1, NOW)
    assert (lapsed.state, lapsed.interval, lapsed.due) == (REVIEW, 30, NOW + timedelta(days=30))
    capped = sched.answer(review_card(interval=90), 5, NOW)
    assert capped.interval == 100


def test_no_learning_steps_graduates_straight_away():
    sched = Sm2Steps(Options(learning_steps=()))
    assert sched.answer(Memory(), 4, NOW).state == REVIEW
    assert sched.answer(Memory(), 1, NOW).interval == 1


def test_published_wraps_srs_sm2_exactly():
    rng = random.Random(3)
    sched = Published()
    for _ in range(200):
        memory, schedule, now = Memory(), srs.NEW, NOW
        for _ in range(rng.randint(1, 12)):
            q = rng.randint(0, 5)
            memory = sched.answer(memory, q, now)
            schedule = srs.sm2(schedule, q)
            assert (memory.repetitions, memory.interval, memory.ease) == (
                schedule.repetitions,
                schedule.interval,
                schedule.ease,
            )
            assert memory.due == srs.due_after(now, schedule)
            now = memory.due
    assert {format_delay(d) for d in previews(sched, Memory(), NOW).values()} == {"1d"}


def test_scheduler_names():
    assert scheduler_for("sm2").name == "sm2"
    assert scheduler_for("fsrs").name == "fsrs"
    assert scheduler_for("sm2-published").name == "sm2-published"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1m 10m", (MINUTE, 10 * MINUTE)),
        ("1m, 1h 1d", (MINUTE, 60 * MINUTE, timedelta(days=1))),
        ("", ()),
        ("5", (5 * MINUTE,)),
        ("30s", (timedelta(seconds=30),)),
    ],
)
def test_parse_steps(text, expected):
    assert parse_steps(text) == expected


@pytest.mark.parametrize("text", ["1x", "m", "-1m", "0m", "31d", " ".join(["1m"] * 11)])
def test_parse_steps_refuses_nonsense(text):
    with pytest.raises(ValueError):
        parse_steps(text)


def test_format_steps_round_trips():
    assert format_steps(parse_steps("1m 10m 1h 2d 30s")) == "1m 10m 1h 2d 30s"


def test_format_delay():
    assert [format_delay(timedelta(seconds=s)) for s in (30, 330, 600, 7200, 86400 * 4, 86400 * 100, 86400 * 800)] == [
        "<1m",
        "<6m",
        "<10m",
        "2h",
        "4d",
        "3.3mo",
        "2.2y",
    ]


def test_rating_of_maps_qualities_to_four_buttons():
    assert [rating_of(q) for q in range(6)] == [1, 1, 1, 2, 3, 4]


def test_new_state_is_new():
    assert Memory().state == NEW
