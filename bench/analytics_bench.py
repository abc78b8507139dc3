"""Analytics benchmark: >= 1,000,000 events, 10,000 users, 90 days in PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms_analytics python -m bench.analytics_bench [--reuse]

Loads users and events with COPY (`--reuse`: keeps what an earlier run loaded),
rolls up the 90 days, then times the dashboard queries and a 4-step funnel
(best and median of 3 runs each), and the dashboards side by side: every
figure computed live against the cached figures (analytics.dashboard_figures),
cold and warm, with CPU time and query counts, and EXPLAIN (ANALYZE, BUFFERS)
of each one's slowest statement. It replaces the analytics tables' contents and the `bench_*`
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
from unittest import mock

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

import django

django.setup()

from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from analytics import dashboard_figures, queries, services  # noqa: E402
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


def load(rng: random.Random, now: datetime) -> None:
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


def side_by_side(label: str, live: Callable[[], object], cached: Callable[[], object], rounds: int = 5) -> None:
    """Live computation vs the dashboards' cached figures, interleaved; medians of `rounds`.

    Cold: the cache cleared before the call (what the first viewer after a rollup pays).
    """
    times: dict[str, list[float]] = {"live": [], "cold": [], "warm": []}
    cpu: dict[str, list[float]] = {"live": [], "cold": [], "warm": []}
    queries_warm = 0
    for _ in range(rounds):
        for kind, fn in (("live", live), ("cold", cached), ("warm", cached)):
            if kind == "cold":
                cache.clear()
            started, started_cpu = time.perf_counter(), time.process_time()
            with CaptureQueriesContext(connection) as captured:
                fn()
            times[kind].append(time.perf_counter() - started)
            cpu[kind].append(time.process_time() - started_cpu)
            if kind == "warm":
                queries_warm = len(captured)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    med_cpu = {k: statistics.median(v) * 1000 for k, v in cpu.items()}
    print(
        f"{label:<34} {med['live']:>8.0f} {med['cold']:>8.0f} {med['warm']:>8.0f} {med['live'] / med['warm']:>7.1f}x"
        f" {med_cpu['live']:>7.0f} {med_cpu['warm']:>7.0f} {queries_warm:>5}"
    )


def explain_slowest(label: str, fn: Callable[[], object]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest statement `fn` runs (once warmed up): its time and buffers."""
    fn()
    with CaptureQueriesContext(connection) as captured:
        fn()
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
        plan = [row[0] for row in cursor.fetchall()]
    buffers = next((line.strip() for line in plan if line.strip().startswith("Buffers")), "")
    total = next(line for line in plan if line.startswith("Execution Time"))
    print(f"{label:<44} {total}; top node {buffers}")


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at PostgreSQL: the benchmark loads data with COPY.")
    call_command("migrate", verbosity=0)
    rng = random.Random(2026)
    now = timezone.now().replace(microsecond=0)
    print(f"Benchmark on {connection.settings_dict['NAME']}: {USERS:,} users, >= {TARGET_EVENTS:,} events, {DAYS} days")
    reuse = "--reuse" in sys.argv and Event.objects.count() >= TARGET_EVENTS
    if reuse:
        # Roll up the days closed since the data was loaded, as the hourly job would.
        rolled = services.rollup_pending()
        print(f"Reusing the loaded events; rolled up {len(rolled)} pending day(s)")
    else:
        load(rng, now)
    today = tu.utc_day_of(now)
    users = list(User.objects.filter(username__startswith="bench_").order_by("id").values_list("id", flat=True)[:1])
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    berlin = tu.zone("Europe/Berlin")
    funnel4 = ("login", "study_session_started", "review_submitted", "study_session_completed")
    results = [
        timed("sessions summary 90 days", lambda: queries.sessions_summary(today - 89, today)),
        timed("active users last 15 min", lambda: queries.active_users(15)),
        timed("errors last 24 h", lambda: queries.errors_summary(24)),
        timed("study metrics 30 days", lambda: queries.study_metrics(30)),
        timed("user analytics (one user)", lambda: queries.user_analytics(users[0], berlin)),
        timed("funnel 4 steps, 7 days", lambda: queries.funnel(FunnelSpec(funnel4, days=7))),
        timed("funnel 4 steps, 30 days", lambda: queries.funnel(FunnelSpec(funnel4, days=30))),
        timed("funnel 4 steps, 90 days", lambda: queries.funnel(FunnelSpec(funnel4, days=90))),
    ]
    print()
    print(f"{'query':<40} {'best s':>8} {'median s':>9}")
    print("-" * 59)
    for label, best, median in results:
        print(f"{label:<40} {best:>8.3f} {median:>9.3f}")

    viewer, _ = User.objects.get_or_create(username="bench_admin", defaults={"role": User.Role.ADMIN})
    User.objects.filter(pk=viewer.pk).update(timezone="Europe/Berlin")
    browser = Client()
    browser.force_login(viewer)

    def page(path: str, *, live: bool) -> Callable[[], object]:
        def get() -> object:
            if not live:
                return browser.get(path)
            # The page as it was: every figure computed live on each view.
            with (
                mock.patch.object(dashboard_figures, "engagement", queries.engagement),
                mock.patch.object(dashboard_figures, "retention", queries.retention),
                mock.patch.object(dashboard_figures, "feature_usage", queries.feature_usage),
            ):
                return browser.get(path)

        return get

    print()
    print("Dashboards: live computation vs cached figures (medians of 5 interleaved rounds, ms)")
    print(
        f"{'figure':<34} {'live':>8} {'cold':>8} {'warm':>8} {'live/warm':>8} {'cpu live':>7} {'cpu warm':>7} {'q':>5}"
    )
    print("-" * 96)
    for days in (30, 90):
        side_by_side(
            f"engagement {days} d (Europe/Berlin)",
            lambda d=days: queries.engagement(berlin, days=d),
            lambda d=days: dashboard_figures.engagement(berlin, days=d),
        )
    side_by_side(
        "retention, 13 weekly cohorts",
        lambda: queries.retention(berlin, cohorts=13),
        lambda: dashboard_figures.retention(berlin, cohorts=13),
    )
    for days in (30, 90):
        side_by_side(
            f"feature usage {days} d",
            lambda d=days: queries.feature_usage(today - d + 1, today),
            lambda d=days: dashboard_figures.feature_usage(today - d + 1, today),
        )
    for days in (30, 90):
        side_by_side(
            f"dashboard page {days} d",
            page(f"/analytics/?days={days}", live=True),
            page(f"/analytics/?days={days}", live=False),
        )
    side_by_side(
        "engagement API 90 d",
        page("/api/v1/analytics/engagement/?days=90", live=True),
        page("/api/v1/analytics/engagement/?days=90", live=False),
    )
    side_by_side("retention page", page("/analytics/retention/", live=True), page("/analytics/retention/", live=False))

    print()
    print("Slowest statement of each, EXPLAIN (ANALYZE, BUFFERS):")
    explain_slowest("engagement 90 d, live", lambda: queries.engagement(berlin, days=90))
    explain_slowest("engagement 90 d, warm (open days only)", lambda: dashboard_figures.engagement(berlin, days=90))
    explain_slowest("feature usage 90 d, live", lambda: queries.feature_usage(today - 89, today))
    explain_slowest("feature usage 90 d, warm", lambda: dashboard_figures.feature_usage(today - 89, today))
    result = queries.funnel(FunnelSpec(funnel4, days=30))
    print()
    print("30-day funnel:", " -> ".join(f"{s.name} {s.users:,}" for s in result.steps))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
