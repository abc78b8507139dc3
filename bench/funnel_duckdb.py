"""The funnel against a columnar reference: ours on PostgreSQL and DuckDB on the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lms_analytics python -m bench.funnel_duckdb [--rounds 5]

Uses the events `bench.analytics_bench` loaded (run that first: ~1M events,
10k users, 90 days). Copies every event row (id, user, name, time) into an
in-memory DuckDB, then times the 4-step funnel over 7 / 30 / 90 days in both,
side by side in each round (ours, then DuckDB), and prints the best of the
rounds, the ratio, and the load average; then the funnel API and page at 90
days, uncached and repeated (from the cache). Ours is `analytics.queries.funnel`,
uncached; DuckDB runs the same definition written independently: chained ASOF
joins take, for every step-1 event, the earliest event of each next step at or
after the previous match (the greedy chain, exact for distinct step names),
and each user keeps their deepest chain, the earliest on ties. The run stops
if a single step count or median differs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

import django

django.setup()

import duckdb  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from analytics import queries  # noqa: E402
from analytics.funnel import FunnelSpec  # noqa: E402
from analytics.models import Event  # noqa: E402
from lms.models import User  # noqa: E402

STEPS = ("login", "study_session_started", "review_submitted", "study_session_completed")
PERIODS = (7, 30, 90)

DUCKDB_FUNNEL = """
WITH s1 AS (
    SELECT user_id, id, ts AS t1 FROM events
    WHERE name = $s1 AND user_id IS NOT NULL AND ts >= $since AND ts <= $now
),
e2 AS (SELECT user_id, ts FROM events WHERE name = $s2 AND user_id IS NOT NULL AND ts >= $since AND ts <= $now),
e3 AS (SELECT user_id, ts FROM events WHERE name = $s3 AND user_id IS NOT NULL AND ts >= $since AND ts <= $now),
e4 AS (SELECT user_id, ts FROM events WHERE name = $s4 AND user_id IS NOT NULL AND ts >= $since AND ts <= $now),
c2 AS (SELECT s1.*, e2.ts AS t2 FROM s1 ASOF LEFT JOIN e2 ON s1.user_id = e2.user_id AND s1.t1 <= e2.ts),
-- A NULL probe still finds a row in an ASOF join: a chain that stopped stays stopped.
c3 AS (SELECT c2.*, CASE WHEN t2 IS NOT NULL THEN e3.ts END AS t3 FROM c2 ASOF LEFT JOIN e3 ON c2.user_id = e3.user_id AND c2.t2 <= e3.ts),
c4 AS (SELECT c3.*, CASE WHEN t3 IS NOT NULL THEN e4.ts END AS t4 FROM c3 ASOF LEFT JOIN e4 ON c3.user_id = e4.user_id AND c3.t3 <= e4.ts),
depths AS (
    SELECT *, CASE WHEN t4 <= t1 + $window THEN 4 WHEN t3 <= t1 + $window THEN 3
                   WHEN t2 <= t1 + $window THEN 2 ELSE 1 END AS depth
    FROM c4
),
best AS (
    SELECT * FROM depths
    QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY depth DESC, t1, id) = 1
)
SELECT
    [COUNT(*), COUNT(*) FILTER (depth >= 2), COUNT(*) FILTER (depth >= 3), COUNT(*) FILTER (depth >= 4)],
    [MEDIAN(epoch_us(t2) - epoch_us(t1)) FILTER (depth >= 2),
     MEDIAN(epoch_us(t3) - epoch_us(t2)) FILTER (depth >= 3),
     MEDIAN(epoch_us(t4) - epoch_us(t3)) FILTER (depth >= 4)]
FROM best
"""


def export_events(db: duckdb.DuckDBPyConnection) -> int:
    """Every event row, as PostgreSQL holds it, into DuckDB (times in UTC, to the microsecond)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".csv") as out:
        with (
            connection.connection.cursor() as cursor,
            cursor.copy(
                "COPY (SELECT id, user_id, name, to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "
                "FROM analytics_event) TO STDOUT WITH (FORMAT csv)"
            ) as copy,
        ):
            for block in copy:
                out.write(block)
        out.flush()
        db.execute("SET TimeZone = 'UTC'")
        db.execute("CREATE TABLE events (id BIGINT, user_id BIGINT, name VARCHAR, ts TIMESTAMPTZ)")
        db.execute(
            "INSERT INTO events SELECT * FROM read_csv(?, header = false, columns = "
            "{'id': 'BIGINT', 'user_id': 'BIGINT', 'name': 'VARCHAR', 'ts': 'TIMESTAMPTZ'})",
            [out.name],
        )
    return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def duckdb_funnel(db: duckdb.DuckDBPyConnection, spec: FunnelSpec, now: datetime) -> tuple[list[int], list[float]]:
    params = {f"s{i + 1}": name for i, name in enumerate(spec.steps)}
    params |= {"since": now - timedelta(days=spec.days), "now": now, "window": timedelta(hours=spec.window_hours)}
    counts, medians = db.execute(DUCKDB_FUNNEL, params).fetchone()
    return list(counts), [round(m / 1_000_000, 3) for m in medians if m is not None]


def server_cpu_seconds() -> float | None:
    """CPU time of this connection's PostgreSQL backend so far (when the server runs on this host).

    Counts the backend alone, not parallel workers it may start for a scan.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ours(spec: FunnelSpec, now: datetime) -> tuple[list[int], list[float]]:
    result = queries.funnel(spec, now=now)
    return [s.users for s in result.steps], [s.median_seconds for s in result.steps[1:] if s.median_seconds is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the side-by-side timing (best is kept)")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at PostgreSQL with the events of bench.analytics_bench.")
    total = Event.objects.count()
    if total < 100_000:
        sys.exit(f"{total:,} events: load the data set first with python -m bench.analytics_bench.")
    now = Event.objects.order_by("-timestamp").values_list("timestamp", flat=True).first()
    db = duckdb.connect()
    started = time.perf_counter()
    exported = export_events(db)
    print(f"{exported:,} events copied into DuckDB {duckdb.__version__} in {time.perf_counter() - started:.1f} s")

    specs = {days: FunnelSpec(STEPS, days=days) for days in PERIODS}
    best: dict[tuple[str, int], float] = {}
    cpu: dict[tuple[str, int], float] = {}  # ours: the server backend's CPU; DuckDB: this process's (all threads)
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for days, spec in specs.items():
            for engine, run in (
                ("ours", lambda s=spec: ours(s, now)),
                ("duckdb", lambda s=spec: duckdb_funnel(db, s, now)),
            ):
                clock = server_cpu_seconds if engine == "ours" else time.process_time
                cpu_before, started = clock(), time.perf_counter()
                figures = run()
                elapsed = time.perf_counter() - started
                best[engine, days] = min(best.get((engine, days), elapsed), elapsed)
                cpu_after = clock()
                if cpu_before is not None and cpu_after is not None:
                    used = cpu_after - cpu_before
                    cpu[engine, days] = min(cpu.get((engine, days), used), used)
                if engine == "ours":
                    expected = figures
                elif figures != expected:
                    sys.exit(f"{days} days: ours {expected} != DuckDB {figures}")
    load_after = os.getloadavg()

    print(f"4-step funnel ({' > '.join(STEPS)}), window 336 h, best of {args.rounds} rounds side by side:")
    print(
        f"{'days':>5} {'ours s':>8} {'DuckDB s':>9} {'ratio':>6} {'ours CPU s':>11} {'DuckDB CPU s':>13}"
        "  users per step (equal in both)"
    )
    for days, spec in specs.items():
        counts, _ = ours(spec, now)
        mine, theirs = best["ours", days], best["duckdb", days]
        cpus = " ".join(
            f"{cpu[engine, days]:>{width}.2f}" if (engine, days) in cpu else f"{'-':>{width}}"
            for engine, width in (("ours", 11), ("duckdb", 13))
        )
        print(f"{days:>5} {mine:>8.3f} {theirs:>9.3f} {mine / theirs:>5.1f}x {cpus}  {counts}")
    print(
        "load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )
    time_requests(args.rounds)


def time_requests(rounds: int) -> None:
    """The API and the page at 90 days: computed (cache off), then repeated within the cache's lifetime."""
    viewer, _ = User.objects.get_or_create(username="bench_admin", defaults={"role": User.Role.ADMIN})
    browser = Client()
    browser.force_login(viewer)
    body = {"steps": list(STEPS), "days": 90}
    requests = {
        "funnel API, 90 days": lambda: browser.post("/api/v1/analytics/funnel/", body, content_type="application/json"),
        "funnel page, 90 days": lambda: browser.get("/analytics/funnel/", {"steps": ",".join(STEPS), "days": 90}),
    }
    print(f"{'request':<22} {'computed s':>10} {'repeated s':>10}  (best of {rounds})")
    for label, request in requests.items():
        figures = []
        for seconds in (0, 60):  # the cache off, then on
            with override_settings(ANALYTICS_FUNNEL_CACHE_SECONDS=seconds):
                assert request().status_code == 200  # warm up (with the cache on: fill it)
                times = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    request()
                    times.append(time.perf_counter() - started)
            figures.append(min(times))
        print(f"{label:<22} {figures[0]:>10.3f} {figures[1]:>10.3f}")


if __name__ == "__main__":
    main()
