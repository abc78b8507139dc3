"""A synthetic class review log drawn from a known FSRS-6 parameter set."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import fsrs_rs_python

from learning.models import Review
from learning.schedulers.fsrs import DEFAULT_PARAMETERS, retrievability

# "The class's memory": clearly unlike FSRS's defaults, so a fit can find it.
TRUE_PARAMETERS = list(DEFAULT_PARAMETERS)
for index, factor in ((0, 0.3), (1, 0.4), (2, 0.5), (3, 0.4), (8, 1.3)):
    TRUE_PARAMETERS[index] *= factor
TRUE_PARAMETERS[20] = 0.4
QUALITY = {1: 1, 2: 3, 3: 4, 4: 5}
START = datetime(2025, 9, 1, 9, 0, tzinfo=UTC)


def simulate(students, cards, *, reviews_per_card: int = 6, seed: int = 7) -> list[Review]:
    """Each student learns each card: a first answer, then reviews about a
    stability apart, recalled with the true model's probability."""
    rng = random.Random(seed)
    fsrs = fsrs_rs_python.FSRS(TRUE_PARAMETERS)
    rows = []
    for student in students:
        for card in cards:
            at = START + timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 8))
            memory = None
            for _ in range(reviews_per_card):
                if memory is None:
                    rating, elapsed = rng.choices([1, 2, 3, 4], [0.2, 0.1, 0.6, 0.1])[0], 0
                else:
                    elapsed = max(1, int(rng.uniform(0.5, 2.0) * max(1.0, memory.stability)))
                    at += timedelta(days=elapsed)
                    recalled = rng.random() < retrievability(memory.stability, elapsed, TRUE_PARAMETERS)
                    rating = rng.choices([2, 3, 4], [0.1, 0.8, 0.1])[0] if recalled else 1
                states = fsrs.next_states(memory, 0.9, elapsed)
                memory = (states.again, states.hard, states.good, states.easy)[rating - 1].memory
                rows.append(counted_review(student, card, at, QUALITY[rating]))
    return Review.objects.bulk_create(rows, batch_size=2000)


def counted_review(student, card, at, quality: int, **extra) -> Review:
    """An (unsaved) answer that counted for the card's schedule."""
    values = {
        "mode": "review",
        "correct": quality >= 3,
        "status_before": "review",
        "repetitions_before": 0,
        "interval_before": 0,
        "ease_before": 2.5,
        "repetitions_after": 0,
        "interval_after": 0,
        "ease_after": 2.5,
        "changed_schedule": True,
        **extra,
    }
    return Review(student=student, card=card, quality=quality, reviewed_at=at, **values)
