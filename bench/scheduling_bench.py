"""Scheduling benchmark: the FSRS optimiser and the scheduler evaluation on a
class with BENCH_FSRS_REVIEWS reviews (default 100,000) in PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms_bench python -m bench.scheduling_bench

The log is drawn from a known FSRS-6 parameter set by the optimiser tests'
generator (tests/learning/fsrs_synthetic.py: each student answers each card
about a stability apart and recalls it with the model's probability), so the
fit has something real to find. Reading the log
(`histories`) is the reference each figure is compared with in the same run.
It replaces the `fsrsbench_*` users and their class: never point it at
production.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from learning import scheduler_evaluation  # noqa: E402
from learning.fsrs_history import histories  # noqa: E402
from learning.fsrs_optimizer import class_reviews, optimize  # noqa: E402
from learning.models import Card, Classroom, Course, Deck, Enrollment, Lesson  # noqa: E402
from lms.models import User  # noqa: E402
from tests.learning.fsrs_synthetic import simulate  # noqa: E402

REVIEWS = int(os.getenv("BENCH_FSRS_REVIEWS", "100000"))
PER_CARD = 5
CARDS = 100
T = TypeVar("T")


def build() -> Classroom:
    User.objects.filter(username__startswith="fsrsbench_").delete()
    teacher = User.objects.create_user("fsrsbench_teacher", password="bench-pass-123", role="teacher")
    students = User.objects.bulk_create(
        [User(username=f"fsrsbench_s{i}", role="student") for i in range(max(1, REVIEWS // (CARDS * PER_CARD)))]
    )
    classroom = Classroom.objects.create(name="FSRS bench class", teacher=teacher)
    Enrollment.objects.bulk_create([Enrollment(classroom=classroom, student=s) for s in students])
    lesson = Lesson.objects.create(
        course=Course.objects.create(classroom=classroom, title="c"), title="l", published=True
    )
    deck = Deck.objects.create(title="FSRS bench deck", owner=teacher, lesson=lesson, scheduler="fsrs")
    cards = Card.objects.bulk_create([Card(deck=deck, front=f"q{i}", back="a", position=i) for i in range(CARDS)])
    # The tests' generator: the same known parameter set the optimiser tests use.
    for first in range(0, len(students), 20):
        simulate(students[first : first + 20], cards, reviews_per_card=PER_CARD, seed=11 + first)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE learning_review")
    return classroom


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at a PostgreSQL database (the figures are for production).")
    call_command("migrate", verbosity=0)
    classroom = Classroom.objects.filter(name="FSRS bench class", teacher__username="fsrsbench_teacher").first()
    if classroom is None or os.getenv("BENCH_REBUILD") == "1":
        classroom, built = timed(build)
        print(f"built the class in {built:.1f} s")
    count = class_reviews(classroom).count()
    _, read = timed(lambda: histories(class_reviews(classroom)))
    fit, fitting = timed(lambda: optimize(classroom=classroom))
    evaluation, evaluating = timed(lambda: scheduler_evaluation.evaluate(class_reviews(classroom)))
    print(f"{count:,} reviews in one class")
    print(f"{'operation':<44} {'seconds':>8} {'× reading the log':>18}")
    for label, seconds in (
        ("read the review log (reference)", read),
        ("optimize_fsrs (read, fit, score, apply)", fitting),
        ("scheduler evaluation (4 schedulers)", evaluating),
    ):
        print(f"{label:<44} {seconds:>8.2f} {seconds / read:>18.1f}")
    print(
        f"fit: {fit.review_count:,} usable reviews, log loss {fit.log_loss_before:.4f} → {fit.log_loss_after:.4f}"
        f" ({'applied' if not fit.skipped else fit.skipped})"
    )
    for s in evaluation.scores:
        loss = f"{s.log_loss:.4f}" if s.log_loss is not None else "—"
        rmse = f"{s.rmse:.4f}" if s.rmse is not None else "—"
        print(f"  {s.label:<40} log loss {loss}  RMSE(bins) {rmse}  on {s.count:,}")


if __name__ == "__main__":
    main()
