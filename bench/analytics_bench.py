"""Analytics benchmark: >= 1,000,000 events, 10,000 users, 90 days in PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms_analytics python -m bench.analytics_bench

Loads users and events with COPY, rolls up the 90 days, then times the
dashboard queries and a 4-step funnel (best and median of 3 runs each) and
prints a table. It replaces the analytics tables' contents and the `bench_*`
users of the database it is pointed at: never point it at production.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from analytics import queries, services  # noqa: E402
from analytics import timeutil as tu  # noqa: E402
from analytics.funnel import FunnelSpec  # noqa: E402
from analytics.models import (  # noqa: E402
    ActiveUserDay,
    DailyEventCount,
    DailySessionStats,
    Event,
    FeatureUserDay,
    RollupDay,
)
from lms.models import User  # noqa: E402

USERS = int(os.getenv("BENCH_USERS", "10000"))
TARGET_EVENTS = int(os.getenv("BENCH_EVENTS", "1000000"))
DAYS = 90
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Asia/Kolkata"]
MODES = ["learn", "review", "cram", "practice", "test"]
ROUTES = ["/", "/decks/", "/decks/<int:pk>/", "/classes/", "/classes/<int:pk>/", "/study/<int:pk>/", "/progress/"]


def timed(label: str, fn: Callable[[], object], runs: int = 3) -> tuple[str, float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return label, min(times), statistics.median(times)


def reset() -> None:
    with connection.cursor() as cursor:
        for model in (Event, ActiveUserDay, DailyEventCount, DailySessionStats, FeatureUserDay, RollupDay):
            cursor.execute(f"TRUNCATE {model._meta.db_table}")
    User.objects.filter(username__startswith="bench_").delete()


def load_users(rng: random.Random, now: datetime) -> list[tuple[int, datetime, float]]:
    raw = connection.connection
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY lms_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, "
            "date_joined, role, timezone) FROM STDIN"
        ) as copy,
    ):
        for i in range(USERS):
            joined = now - timedelta(days=rng.uniform(0, DAYS))
            role = "teacher" if i % 25 == 0 else "student"
            name = f"bench_{i:05d}"
            copy.write_row(
                ("!", False, name, "", "", f"{name}@example.com", False, True, joined, role, rng.choice(ZONES))
            )
    rows = User.objects.filter(username__startswith="bench_").values_list("id", "date_joined")
    # Each user gets a loyalty: the chance of coming back on a given day.
    return [(uid, joined, rng.betavariate(1.2, 4)) for uid, joined in rows]


def session_events(rng: random.Random, uid: int, start: datetime, is_teacher: bool) -> list[tuple]:
    key = f"{uid:x}{int(start.timestamp()):x}"
    t = start
    out: list[tuple] = []

    def add(name: str, **props: object) -> None:
        nonlocal t
        out.append((name, uid, key, json.dumps(props), t))
        t += timedelta(seconds=rng.randint(3, 200))

    add("login", via="web")
    for _ in range(rng.randint(1, 4)):
        add("page_view", route=rng.choice(ROUTES), status=200)
    if rng.random() < 0.8:
        mode = rng.choice(MODES)
        add("study_session_started", mode=mode, cards=rng.randint(5, 40))
        for _ in range(rng.randint(2, 10)):
            add("card_flipped")
            add("review_submitted", mode=mode, quality=rng.randint(0, 5))
        if rng.random() < 0.7:
            add("study_session_completed", mode=mode, accuracy=round(rng.random(), 2))
            if mode == "test":
                add("test_completed", score=rng.randint(0, 100))
    if is_teacher and rng.random() < 0.4:
        add("deck_created")
        for _ in range(rng.randint(1, 8)):
            add("card_created")
    for _ in range(rng.randint(0, 3)):
        add("api_request", route="/api/v1/progress/", method="GET", status=200, duration_ms=rng.randint(5, 80))
    if rng.random() < 0.01:
        add("error", type="OperationalError", message="bench", route="/study/<int:pk>/", status=500)
    return out


def load_events(rng: random.Random, users: list[tuple[int, datetime, float]], now: datetime) -> int:
    total = 0
    raw = connection.connection
    with (
        raw.cursor() as cursor,
        cursor.copy("COPY analytics_event (name, user_id, session_key, properties, timestamp) FROM STDIN") as copy,
    ):
        rounds = 0
        while total < TARGET_EVENTS:
            rounds += 1
            for index, (uid, joined, loyalty) in enumerate(users):
                day = joined
                first = rounds == 1
                while day < now:
                    if first or rng.random() < loyalty * 0.5:
                        start = day + timedelta(minutes=rng.randint(0, 23 * 60))
                        for row in session_events(rng, uid, start, index % 25 == 0):
                            if row[4] <= now:
                                copy.write_row(row)
                                total += 1
                    first = False
                    day += timedelta(days=1)
                if total >= TARGET_EVENTS and rounds > 1:
                    break
        # Some anonymous page views too.
        for _ in range(total // 50):
            moment = now - timedelta(seconds=rng.randint(0, DAYS * 86400))
            copy.write_row(("page_view", None, "", json.dumps({"route": "/"}), moment))
            total += 1
    return total


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at PostgreSQL: the benchmark loads data with COPY.")
    call_command("migrate", verbosity=0)
    rng = random.Random(2026)
    now = timezone.now().replace(microsecond=0)
    print(f"Benchmark on {connection.settings_dict['NAME']}: {USERS:,} users, >= {TARGET_EVENTS:,} events, {DAYS} days")

    started = time.perf_counter()
    reset()
    users = load_users(rng, now)
    total = load_events(rng, users, now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE lms_user")
        cursor.execute("ANALYZE analytics_event")
    print(f"Loaded {total:,} events for {len(users):,} users in {time.perf_counter() - started:.1f} s")

    today = tu.utc_day_of(now)
    started = time.perf_counter()
    services.rollup_range(today - DAYS - 1, today - 1)
    rollup_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE analytics_activeuserday")
        cursor.execute("ANALYZE analytics_dailyeventcount")
        cursor.execute("ANALYZE analytics_featureuserday")
    started = time.perf_counter()
    services.rollup_day(today - 1)
    one_day = time.perf_counter() - started
    print(
        f"Rolled up {DAYS + 1} days in {rollup_seconds:.1f} s ({one_day:.2f} s for one day); "
        f"{ActiveUserDay.objects.count():,} active-user-day rows"
    )

    berlin = tu.zone("Europe/Berlin")
    funnel4 = ("login", "study_session_started", "review_submitted", "study_session_completed")
    results = [
        timed("engagement 30 days (Europe/Berlin)", lambda: queries.engagement(berlin, days=30)),
        timed("engagement 90 days (Europe/Berlin)", lambda: queries.engagement(berlin, days=90)),
        timed("engagement 90 days (UTC)", lambda: queries.engagement(tu.zone("UTC"), days=90)),
        timed("retention, 13 weekly cohorts", lambda: queries.retention(berlin, cohorts=13)),
        timed("sessions summary 90 days", lambda: queries.sessions_summary(today - 89, today)),
        timed("feature usage 30 days", lambda: queries.feature_usage(today - 29, today)),
        timed("feature usage 90 days", lambda: queries.feature_usage(today - 89, today)),
        timed("active users last 15 min", lambda: queries.active_users(15)),
        timed("errors last 24 h", lambda: queries.errors_summary(24)),
        timed("study metrics 30 days", lambda: queries.study_metrics(30)),
        timed("user analytics (one user)", lambda: queries.user_analytics(users[0][0], berlin)),
        timed("funnel 4 steps, 7 days", lambda: queries.funnel(FunnelSpec(funnel4, days=7))),
        timed("funnel 4 steps, 30 days", lambda: queries.funnel(FunnelSpec(funnel4, days=30))),
        timed("funnel 4 steps, 90 days", lambda: queries.funnel(FunnelSpec(funnel4, days=90))),
    ]
    viewer, _ = User.objects.get_or_create(username="bench_admin", defaults={"role": User.Role.ADMIN})
    browser = Client()
    browser.force_login(viewer)
    for days in (30, 90):
        results.append(
            timed(f"dashboard page, {days} days (all queries)", lambda d=days: browser.get(f"/analytics/?days={d}"))
        )
    results.append(timed("retention page", lambda: browser.get("/analytics/retention/")))
    result = queries.funnel(FunnelSpec(funnel4, days=30))
    print()
    print(f"{'query':<40} {'best s':>8} {'median s':>9}")
    print("-" * 59)
    for label, best, median in results:
        print(f"{label:<40} {best:>8.3f} {median:>9.3f}")
    print()
    print("30-day funnel:", " -> ".join(f"{s.name} {s.users:,}" for s in result.steps))


if __name__ == "__main__":
    main()
