"""Learning benchmark: a school-sized class in PostgreSQL, then the hot paths.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms_bench python -m bench.learning_bench

Builds one class with BENCH_STUDENTS students (default 300) and BENCH_CARDS
cards (default 3,000, in 30 decks), gives every student a schedule for most
cards and ~60 days of review history (bulk inserts), then times, with query
counts: answering a card (the service the page and the API call), the next
card, a student's dashboard, the teacher's class progress (read live, the
page and API from the cache right after an answer, with this process's CPU
time, and with nothing cached), and the deck and card API lists. It
replaces the `bench_*` users and their class in the database it is pointed
at: never point it at production.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

import django

django.setup()

from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from learning import progress, study  # noqa: E402
from learning.models import Card, CardState, Classroom, Course, Deck, Enrollment, Lesson, Review  # noqa: E402
from lms.models import User  # noqa: E402

STUDENTS = int(os.getenv("BENCH_STUDENTS", "300"))
CARDS = int(os.getenv("BENCH_CARDS", "3000"))
DECKS = 30
HISTORY_DAYS = 60
RUNS = int(os.getenv("BENCH_RUNS", "20"))


def measure(label: str, fn: Callable[[], object], runs: int = RUNS) -> tuple[str, float, float, float, int]:
    times, queries = [], 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
        queries = len(ctx.captured_queries)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return label, statistics.median(times), p95, max(times), queries


def measure_after(
    label: str, before: Callable[[], object], fn: Callable[[], object], runs: int = RUNS
) -> tuple[str, float, float, float, int]:
    """`fn` timed right after `before` (not timed), every run. The label
    carries the median CPU time of this process (the wall clock on a shared
    machine also counts other processes' turns)."""
    times, cpu, queries = [], [], 0
    for _ in range(runs):
        before()
        with CaptureQueriesContext(connection) as ctx:
            started, started_cpu = time.perf_counter(), time.process_time()
            fn()
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        queries = len(ctx.captured_queries)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return f"{label} (CPU {statistics.median(cpu):.0f})", statistics.median(times), p95, max(times), queries


def build() -> tuple[User, list[User], Classroom]:
    User.objects.filter(username__startswith="bench_").delete()
    teacher = User.objects.create_user("bench_teacher", password="bench-pass-123", role="teacher")
    students = User.objects.bulk_create(
        [User(username=f"bench_s{i}", role="student", timezone="Europe/Berlin") for i in range(STUDENTS)]
    )
    classroom = Classroom.objects.create(name="Bench class", teacher=teacher)
    Enrollment.objects.bulk_create([Enrollment(classroom=classroom, student=s) for s in students])
    course = Course.objects.create(classroom=classroom, title="Bench course")
    lessons = Lesson.objects.bulk_create(
        [Lesson(course=course, title=f"Lesson {i}", published=True, position=i) for i in range(DECKS // 3)]
    )
    decks = Deck.objects.bulk_create(
        [Deck(title=f"Deck {i}", owner=teacher, lesson=lessons[i % len(lessons)], position=i) for i in range(DECKS)]
    )
    per_deck = CARDS // DECKS
    Card.objects.bulk_create(
        [
            Card(deck=deck, front=f"Question {d}-{i}", back=f"Answer {d}-{i}", position=i)
            for d, deck in enumerate(decks)
            for i in range(per_deck)
        ],
        batch_size=5000,
    )
    # Each student gets a schedule for 80 % of the cards and one review per
    # schedule, written by PostgreSQL itself (INSERT ... SELECT: seconds, where
    # building 1.4M model objects took tens of minutes on a busy machine).
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.7)")
        cursor.execute(
            """
            CREATE TEMP TABLE bench_pick ON COMMIT DROP AS
            SELECT s.id AS student_id, c.id AS card_id,
                   (ARRAY[1, 3, 6, 15, 30, 60])[1 + floor(random() * 6)::int] AS ivl,
                   %(now)s - make_interval(days => floor(random() * (%(days)s + 1))::int) AS last,
                   (ARRAY[0, 0, 0, 1, 2, 9])[1 + floor(random() * 6)::int] AS lapses,
                   (ARRAY[1, 3, 4, 4, 5])[1 + floor(random() * 5)::int] AS quality,
                   round((1.3 + random() * 1.5)::numeric, 2)::float AS ease,
                   800 + floor(random() * 8200)::int AS response_ms
            FROM lms_user s
            JOIN learning_card c ON c.deck_id = ANY(%(decks)s)
            WHERE s.id = ANY(%(students)s) AND random() < 0.8
            """,
            {"now": now, "days": HISTORY_DAYS, "decks": [d.pk for d in decks], "students": [s.pk for s in students]},
        )
        cursor.execute(
            """
            INSERT INTO learning_cardstate (student_id, card_id, status, repetitions, interval, ease, due_at,
                lapses, reviews_count, last_reviewed_at, created_at, step, suspended)
            SELECT student_id, card_id, 'review', 3, ivl, ease, last + make_interval(days => ivl),
                lapses, 3, last, last, 0, false
            FROM bench_pick
            """
        )
        cursor.execute(
            """
            INSERT INTO learning_review (student_id, card_id, mode, quality, typed_answer, correct, response_ms,
                reviewed_at, status_before, repetitions_before, interval_before, ease_before, repetitions_after,
                interval_after, ease_after, changed_schedule, idempotency_key, status_after, near_miss)
            SELECT student_id, card_id, 'review', quality, '', quality >= 3, response_ms,
                last, 'review', 2, greatest(ivl / 2, 1), 2.5, 3,
                ivl, 2.5, true, '', 'review', false
            FROM bench_pick
            """
        )
    with connection.cursor() as cursor:
        # VACUUM too: index-only scans (class progress) need the visibility
        # map, which autovacuum would only set some minutes later.
        for table in ("learning_cardstate", "learning_review"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("ANALYZE")
    return teacher, students, classroom


def explain_slowest(fn: Callable[[], object], top: int = 3) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) the slowest queries of one call (BENCH_EXPLAIN=1)."""
    with CaptureQueriesContext(connection) as ctx:
        fn()
    slowest = sorted(ctx.captured_queries, key=lambda q: float(q["time"]), reverse=True)[:top]
    with connection.cursor() as cursor:
        for query in slowest:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            print(f"--- {query['time']} s: {query['sql'][:200]}...")
            print("\n".join(row[0] for row in cursor.fetchall()) + "\n")


def explain_plan(label: str, queryset: object) -> None:
    """The plan of one query, to show it is a single index scan."""
    plan = queryset.explain()
    print(f"plan of {label}: " + " | ".join(line.strip() for line in plan.splitlines()[:4]))


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at a PostgreSQL database (the figures are for production).")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    existing = Classroom.objects.filter(name="Bench class", teacher__username="bench_teacher").first()
    if existing is not None and os.getenv("BENCH_REBUILD") != "1":
        # Building takes minutes; reuse the last build unless asked not to.
        teacher, classroom = existing.teacher, existing
        students = list(User.objects.filter(username__startswith="bench_s").order_by("id"))
    else:
        teacher, students, classroom = build()
    built = time.perf_counter() - started
    print(
        f"{len(students)} students, {Card.objects.filter(deck__lesson__course__classroom=classroom).count():,} cards, "
        f"{CardState.objects.filter(student__in=students).count():,} schedules and "
        f"{Review.objects.filter(student__in=students).count():,} reviews ready in {built:.1f} s (BENCH_REBUILD=1 rebuilds)\n"
    )
    student = students[0]
    session = study.session_start(student=student, scope_type="classroom", scope_id=classroom.pk, mode="review")

    def answer() -> None:
        session.refresh_from_db()
        nxt = study.session_next(student=student, session=session)
        if nxt is None:
            return
        study.session_answer(
            student=student,
            session_id=session.pk,
            card_id=nxt.card.pk,
            quality=4,
            response_ms=2000,
            idempotency_key=uuid.uuid4().hex,
        )

    def answer_alone() -> tuple[str, float, float, float, int]:
        """The answer by itself (the next card is fetched outside the timing)."""
        times, queries = [], 0
        for _ in range(RUNS):
            session.refresh_from_db()
            nxt = study.session_next(student=student, session=session)
            if nxt is None:
                break
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                study.session_answer(
                    student=student, session_id=session.pk, card_id=nxt.card.pk, quality=4, response_ms=2000
                )
                times.append((time.perf_counter() - started) * 1000)
            queries = len(ctx.captured_queries)
        times.sort()
        return "answer a card (review)", statistics.median(times), times[-1], times[-1], queries

    teacher_api = APIClient()
    teacher_api.force_authenticate(teacher)
    student_api = APIClient()
    student_api.force_authenticate(student)
    deck = Deck.objects.filter(lesson__course__classroom=classroom).first()
    teacher_page = Client()
    teacher_page.force_login(teacher)
    progress_url = reverse("learning:class_progress", args=[classroom.pk])
    progress_api_url = reverse("api-classroom-progress", args=[classroom.pk])
    assert teacher_page.get(progress_url).status_code == 200  # warm: the figures read whole once

    def cold() -> None:
        progress.forget_class_progress([classroom.pk])
        cache.delete_many([progress._rows_key(classroom.pk, group) for group in range(progress.ROW_GROUPS)])
        cache.delete_many([progress._rows_key(classroom.pk, name) for name in ("hardest", "leeches")])

    rows = [
        measure("next card + answer (review)", answer),
        measure("next card (review)", lambda: study.session_next(student=student, session=session)),
        answer_alone(),
        measure("student dashboard", lambda: progress.student_dashboard(student)),
        measure("due cards (20 most overdue)", lambda: list(CardState.objects.due_for(student, timezone.now())[:20])),
        measure("class progress, all read live", lambda: progress.class_progress(classroom), runs=5),
        # What the teacher's page and API serve: the cached figures, with the
        # answering student's and card bucket's read again (issue #15: < 200 ms).
        measure_after("class progress page, after an answer", answer, lambda: teacher_page.get(progress_url)),
        measure_after("class progress API, after an answer", answer, lambda: teacher_api.get(progress_api_url)),
        # Nothing cached: the figures read whole, every row rendered.
        measure_after("class progress page, cold", cold, lambda: teacher_page.get(progress_url), runs=5),
        measure_after("class progress API, cold", cold, lambda: teacher_api.get(progress_api_url), runs=5),
        measure("API deck list (teacher)", lambda: teacher_api.get("/api/v1/decks/?page_size=50")),
        measure("API card list of a deck (student)", lambda: student_api.get(f"/api/v1/cards/?deck={deck.pk}")),
        measure("API card search, all decks (student)", lambda: student_api.get("/api/v1/cards/?q=question%2012")),
        measure("API progress (student)", lambda: student_api.get("/api/v1/progress/")),
    ]
    if os.getenv("BENCH_EXPLAIN") == "1":
        explain_slowest(lambda: progress.class_progress(classroom))
    explain_plan("due cards", CardState.objects.due_for(student, timezone.now())[:20])
    session.refresh_from_db()
    head = [*session.queue[:1], *session.learning_ids]
    explain_plan("next card", study.candidates_query(student, head))
    reset_queries()
    print(f"{'operation':<50} {'median ms':>10} {'p95 ms':>9} {'max ms':>9} {'queries':>8}")
    for label, median, p95, worst, queries in rows:
        print(f"{label:<50} {median:>10.1f} {p95:>9.1f} {worst:>9.1f} {queries:>8}")
    print(f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
