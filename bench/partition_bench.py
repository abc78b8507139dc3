"""The analytics figures on the monthly-partitioned event table against the plain one, side by side.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms_analytics python -m bench.analytics_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms_analytics python -m bench.partition_bench

Runs on the events `bench.analytics_bench` loaded (>= 1M). Each round converts
the table to one layout and then the other (the order alternates between
rounds; the conversion is the code of migration analytics.0008), runs ANALYZE,
and times every dashboard query, the dashboard page, a 4-step funnel, a day's
rollup and the write path (1,000 events inserted, then deleted by id). Per
query it reports the median over rounds of the PostgreSQL backend's CPU time per call
(read from /proc: the server must run on this machine) and of the wall time,
and the ratio partitioned / plain. The load average is printed: on a shared
machine compare the ratios, not the absolute times. It leaves the table
partitioned. Never point it at production.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from analytics import partitions, queries, services  # noqa: E402
from analytics import timeutil as tu  # noqa: E402
from analytics.funnel import FunnelSpec  # noqa: E402
from analytics.models import Event  # noqa: E402
from lms.models import User  # noqa: E402

ROUNDS = int(os.getenv("BENCH_ROUNDS", "3"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu() -> float:
    """CPU seconds the PostgreSQL backend serving this connection has used."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(server CPU seconds, wall seconds) per call, over `repeat` calls (CPU time is read in 10 ms ticks)."""
    cpu, wall = backend_cpu(), time.perf_counter()
    for _ in range(repeat):
        fn()
    return (backend_cpu() - cpu) / repeat, (time.perf_counter() - wall) / repeat


def write_path() -> None:
    now = timezone.now()
    rows = Event.objects.bulk_create(
        [Event(name="bench_write", session_key="bench", properties={"i": i}, timestamp=now) for i in range(1000)]
    )
    Event.objects.filter(id__in=[row.id for row in rows]).delete()


def convert(partitioned: bool) -> float | None:
    """Seconds the conversion (with VACUUM ANALYZE) took, None if the table had that layout already."""
    started = time.perf_counter()
    converted = partitions.is_partitioned() != partitioned
    if converted:
        with transaction.atomic(), connection.cursor() as cursor:
            (partitions.partition_table if partitioned else partitions.unpartition_table)(cursor)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE analytics_event")
    return time.perf_counter() - started if converted else None


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at PostgreSQL (loaded by bench.analytics_bench).")
    total = Event.objects.count()
    if total < 100_000:
        sys.exit("Load events first: python -m bench.analytics_bench")
    today = tu.utc_day_of(timezone.now())
    berlin = tu.zone("Europe/Berlin")
    funnel4 = ("login", "study_session_started", "review_submitted", "study_session_completed")
    viewer, _ = User.objects.get_or_create(username="bench_admin", defaults={"role": User.Role.ADMIN})
    browser = Client()
    browser.force_login(viewer)
    user_id = Event.objects.exclude(user=None).values_list("user_id", flat=True).first()
    cases: list[tuple[str, Callable[[], object]]] = [
        ("engagement 30 days (Europe/Berlin)", lambda: queries.engagement(berlin, days=30)),
        ("engagement 90 days (Europe/Berlin)", lambda: queries.engagement(berlin, days=90)),
        ("retention, 13 weekly cohorts", lambda: queries.retention(berlin, cohorts=13)),
        ("sessions summary 90 days", lambda: queries.sessions_summary(today - 89, today)),
        ("feature usage 30 days", lambda: queries.feature_usage(today - 29, today)),
        ("feature usage 90 days", lambda: queries.feature_usage(today - 89, today)),
        ("active users last 15 min", lambda: queries.active_users(15)),
        ("errors last 24 h", lambda: queries.errors_summary(24)),
        ("study metrics 30 days", lambda: queries.study_metrics(30)),
        ("user analytics (one user)", lambda: queries.user_analytics(user_id, berlin)),
        ("funnel 4 steps, 7 days", lambda: queries.funnel(FunnelSpec(funnel4, days=7))),
        ("funnel 4 steps, 30 days", lambda: queries.funnel(FunnelSpec(funnel4, days=30))),
        ("funnel 4 steps, 90 days", lambda: queries.funnel(FunnelSpec(funnel4, days=90))),
        ("rollup of one day", lambda: services.rollup_day(today - 1)),
        ("dashboard page, 30 days", lambda: browser.get("/analytics/?days=30")),
        ("dashboard page, 90 days", lambda: browser.get("/analytics/?days=90")),
        ("retention page", lambda: browser.get("/analytics/retention/")),
        ("insert 1,000 events, delete by id", write_path),
    ]
    print(f"{total:,} events in {connection.settings_dict['NAME']}; {ROUNDS} rounds; load average {os.getloadavg()}")
    results: dict[tuple[str, bool], list[tuple[float, float]]] = defaultdict(list)
    conversions: dict[bool, list[float]] = defaultdict(list)
    repeats: dict[str, int] = {}
    for round_no in range(ROUNDS):
        for partitioned in (True, False) if round_no % 2 == 0 else (False, True):
            seconds = convert(partitioned)
            if seconds is not None:
                conversions[partitioned].append(seconds)
            for label, fn in cases:
                _, warm = measure(fn, 1)  # warms the cache and plans
                # Quick queries run several times so the CPU ticks add up; the same count for both layouts.
                repeats.setdefault(label, max(1, min(20, int(0.5 / max(warm, 0.001)))))
                results[label, partitioned].append(measure(fn, repeats[label]))
        print(f"round {round_no + 1} done; load average {os.getloadavg()}", flush=True)
    convert(True)

    print()
    print(
        f"{'median over rounds':<38} {'CPU plain':>9} {'CPU part.':>9} {'ratio':>6}   {'wall plain':>10} {'wall part.':>10}"
    )
    print("-" * 92)
    for label, _ in cases:
        plain, part = results[label, False], results[label, True]
        cpu_plain, cpu_part = (statistics.median(r[0] for r in rs) for rs in (plain, part))
        wall_plain, wall_part = (statistics.median(r[1] for r in rs) for rs in (plain, part))
        ratio = f"{cpu_part / cpu_plain:6.2f}" if cpu_plain else "     -"
        print(f"{label:<38} {cpu_plain:>9.3f} {cpu_part:>9.3f} {ratio}   {wall_plain:>10.3f} {wall_part:>10.3f}")
    print()
    for partitioned, label in ((True, "to partitioned"), (False, "to plain")):
        print(f"conversion {label} with VACUUM ANALYZE, s: {', '.join(f'{s:.1f}' for s in conversions[partitioned])}")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
