"""bench.load's arithmetic: a phase taken in slices adds up to the phase."""

from __future__ import annotations

from bench.load import Tally, merge


def test_slices_of_a_phase_add_up_requests_answers_errors_and_time():
    first, second = Tally(), Tally()
    for tally, answers in ((first, 3), (second, 4)):
        for _ in range(answers):
            tally.record("study", 0.01, True, 200)
            tally.answered()
    second.record("study", 0.5, False, 500)
    tally, seconds = merge((first, 2.0), (second, 3.0))
    assert tally.answers == 7
    assert len(tally.latencies["study"]) == 8
    assert tally.errors["study"] == 1 and tally.statuses[500] == 1
    assert seconds == 5.0
