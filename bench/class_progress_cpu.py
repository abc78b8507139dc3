"""Class progress: this process's CPU per page and API request right after an answer.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms_bench python -m bench.class_progress_cpu

Runs on the class `bench/learning_bench.py` builds (run that first). Each
request follows one answer by the same student (not timed); prints the mean
CPU time per request and, beside it, the CPU spent in the class progress
functions that exist in the code it runs (so the same file measures an
older checkout too: run it from each and alternate). BENCH_RUNS requests of
each (default 10).
"""

from __future__ import annotations

import collections
import functools
import os
import time
import uuid
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

import django

django.setup()

from django.test import Client  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from learning import progress, study, study_views  # noqa: E402
from learning.models import Classroom  # noqa: E402
from lms.models import User  # noqa: E402

RUNS = int(os.getenv("BENCH_RUNS", "10"))
PARTS = ("_refresh", "_class_progress_from", "_rendered", "class_tests", "_tokens_for", "class_progress_dict")
spent: collections.Counter[str] = collections.Counter()


def timed(module: object, name: str) -> None:
    """Count the CPU spent in `module.name` (when the code has it)."""
    fn = getattr(module, name, None)
    if fn is None:
        return

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        started = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - started

    setattr(module, name, wrapper)


def main() -> None:
    for name in PARTS:
        timed(progress, name)
    timed(study_views, "render")
    classroom = Classroom.objects.get(name="Bench class", teacher__username="bench_teacher")
    student = User.objects.filter(username__startswith="bench_s").order_by("id").first()
    session = study.session_start(student=student, scope_type="classroom", scope_id=classroom.pk, mode="review")

    def answer() -> None:
        session.refresh_from_db()
        nxt = study.session_next(student=student, session=session)
        study.session_answer(
            student=student, session_id=session.pk, card_id=nxt.card.pk, quality=4, idempotency_key=uuid.uuid4().hex
        )

    page, api = Client(), APIClient()
    page.force_login(classroom.teacher)
    api.force_authenticate(classroom.teacher)
    requests: list[tuple[str, Callable[[], object]]] = [
        ("page", lambda: page.get(f"/classes/{classroom.pk}/progress/")),
        ("API", lambda: api.get(f"/api/v1/classrooms/{classroom.pk}/progress/")),
    ]
    for _, request in requests:
        request()  # warm: the figures read whole once
    for label, request in requests:
        spent.clear()
        total = 0.0
        for _ in range(RUNS):
            answer()
            started = time.process_time()
            request()
            total += time.process_time() - started
        parts = ", ".join(f"{name} {1000 * cpu / RUNS:.1f}" for name, cpu in spent.most_common())
        print(f"{label}: {1000 * total / RUNS:.1f} ms CPU per request ({parts})")
    print(f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
