"""DAU/WAU/MAU, new users and retention against independent counts, in several time zones;
rolled-up days give exactly the live figures."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest

from analytics import queries, services
from analytics import timeutil as tu
from analytics.models import ActiveUserDay, DailySessionStats, Event, RollupDay
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # Europe/Berlin switched to summer time on 2026-03-29
ZONES = ["UTC", "America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Auckland"]


def make_activity(seed: int, users: int = 25, days: int = 70) -> None:
    rng = random.Random(seed)
    people = [UserFactory(timezone=rng.choice(ZONES)) for _ in range(users)]
    rows = []
    for person in people:
        start = rng.randint(0, days)
        for _ in range(rng.randint(1, 30)):
            offset = timedelta(days=start) * rng.random() + timedelta(seconds=rng.randint(0, 86400))
            # Some events sit right at quarter-hour and day edges.
            ts = NOW - offset
            if rng.random() < 0.2:
                ts = ts.replace(minute=rng.choice([0, 15, 30, 45]), second=0, microsecond=0)
            rows.append(
                Event(name=rng.choice(["page_view", "review_submitted", "card_flipped"]), user=person, timestamp=ts)
            )
    rows.append(Event(name="page_view", user=None, timestamp=NOW - timedelta(hours=1)))  # anonymous: not active
    Event.objects.bulk_create(rows)


def local_days_by_user(zone: str) -> dict[int, set[date]]:
    tz = tu.zone(zone)
    found: dict[int, set[date]] = defaultdict(set)
    for user_id, ts in Event.objects.filter(user__isnull=False).values_list("user_id", "timestamp"):
        found[user_id].add(ts.astimezone(tz).date())
    return found


def reference(zone: str, days: list[date]) -> dict[str, list[int]]:
    by_user = local_days_by_user(zone)
    out: dict[str, list[int]] = {"dau": [], "wau": [], "mau": [], "new": []}
    for day in days:
        out["dau"].append(sum(1 for ds in by_user.values() if day in ds))
        out["wau"].append(sum(1 for ds in by_user.values() if any(day - timedelta(6) <= d <= day for d in ds)))
        out["mau"].append(sum(1 for ds in by_user.values() if any(day - timedelta(29) <= d <= day for d in ds)))
        out["new"].append(sum(1 for ds in by_user.values() if min(ds) == day))
    return out


@pytest.mark.parametrize("zone", ZONES)
def test_engagement_matches_independent_counts(zone: str) -> None:
    make_activity(seed=len(zone))
    tz = tu.zone(zone)
    end = tu.today_local(tz, NOW)
    result = queries.engagement(tz, days=40, end_day=end)
    expected = reference(zone, [tu.day_date(d) for d in result.days])
    assert result.dau == expected["dau"]
    assert result.wau == expected["wau"]
    assert result.mau == expected["mau"]
    assert result.new == expected["new"]
    assert result.returning == [a - b for a, b in zip(expected["dau"], expected["new"], strict=True)]
    assert max(result.dau) > 0


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kathmandu"])
def test_rolled_up_days_give_the_live_figures(zone: str) -> None:
    make_activity(seed=3)
    tz = tu.zone(zone)
    end = tu.today_local(tz, NOW)
    live = queries.engagement(tz, days=60, end_day=end)
    live_retention = queries.retention(tz, cohorts=10, today=end)
    first, last = tu.utc_day_of(NOW) - 75, tu.utc_day_of(NOW) - 1
    live_sessions = queries.sessions_summary(first, last)
    live_features = queries.feature_usage(first, last)

    services.rollup_range(first, last)
    assert RollupDay.objects.count() == last - first + 1
    assert ActiveUserDay.objects.exists()
    assert queries.first_live_day(first, last + 1) == last + 1

    rolled = queries.engagement(tz, days=60, end_day=end)
    assert (rolled.dau, rolled.wau, rolled.mau, rolled.new) == (live.dau, live.wau, live.mau, live.new)
    assert queries.retention(tz, cohorts=10, today=end) == live_retention
    assert queries.sessions_summary(first, last).by_day == live_sessions.by_day
    assert queries.feature_usage(first, last) == live_features

    # Even with the raw events gone, the rolled-up days keep their figures.
    Event.objects.filter(timestamp__lt=tu.day_start_utc(last + 1)).delete()
    gone = queries.engagement(tz, days=58, end_day=end - 2)
    assert gone.dau == live.dau[:-2]
    assert queries.feature_usage(first, last) == live_features
    assert queries.sessions_summary(first, last).by_day == live_sessions.by_day


def test_each_rolled_up_day_equals_its_live_computation() -> None:
    make_activity(seed=11)
    day = tu.utc_day_of(NOW) - 3
    sql, params = queries.live_activity_sql(day, day)
    live_rows = sorted((u, d, am, pm, n) for u, d, am, pm, n in queries._fetch(sql, params))
    live_sessions = queries.live_sessions_by_day(day, day)
    services.rollup_day(day)
    services.rollup_day(day)  # idempotent
    rolled = sorted(
        ActiveUserDay.objects.filter(day=day).values_list("user_id", "day", "slots_am", "slots_pm", "events")
    )
    assert rolled == live_rows
    stats = DailySessionStats.objects.get(day=day)
    assert (stats.sessions, stats.duration_seconds, stats.events) == live_sessions[day]


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Asia/Kolkata"])
def test_retention_matches_independent_counts(zone: str) -> None:
    make_activity(seed=5, users=40)
    tz = tu.zone(zone)
    today = tu.today_local(tz, NOW)
    cohorts = queries.retention(tz, cohorts=10, today=today)
    by_user = local_days_by_user(zone)
    today_date = tu.day_date(today)

    def monday(d: date) -> date:
        return d - timedelta(days=d.weekday())

    this_week = monday(today_date)
    for cohort in cohorts:
        start = date.fromisoformat(cohort.week_start)
        assert start.weekday() == 0
        members = {u for u, ds in by_user.items() if monday(min(ds)) == start}
        assert cohort.size == len(members)
        for k in range(1, 9):
            week = start + timedelta(weeks=k)
            if week > this_week:
                assert cohort.counts[k - 1] is None
                continue
            active = sum(1 for u in members if any(monday(d) == week for d in by_user[u]))
            assert cohort.counts[k - 1] == active
    assert sum(c.size for c in cohorts) > 0


def test_sessions_split_on_thirty_minute_gaps() -> None:
    person = UserFactory()
    t = NOW - timedelta(days=2)
    gaps = [0, 10, 30, 31, 5]  # minutes after the previous event: 30 joins, 31 splits
    times = []
    for gap in gaps:
        t += timedelta(minutes=gap)
        times.append(t)
    Event.objects.bulk_create([Event(name="page_view", user=person, timestamp=ts) for ts in times])
    day = tu.utc_day_of(times[0])
    assert queries.live_sessions_by_day(day, day + 1) == {day: (2, (40 + 5) * 60, 5)}
    stats = queries.user_analytics(person.id, tu.zone("UTC"))
    assert stats["sessions"] == 2
    assert stats["avg_events_per_session"] == 2.5


def test_a_session_crossing_midnight_belongs_to_the_day_it_starts() -> None:
    person = UserFactory()
    day = tu.utc_day_of(NOW) - 2
    midnight = tu.day_start_utc(day)
    minutes = [-70, -45, -20, 5, 120]  # one session from 22:50 to 00:05, then another at 02:00
    Event.objects.bulk_create(
        [Event(name="page_view", user=person, timestamp=midnight + timedelta(minutes=m)) for m in minutes]
    )
    # Reading the day alone (with 30 minutes before it) sees 00:05 continue a session started the day before.
    assert queries.live_sessions_by_day(day, day) == {day: (1, 0, 1)}
    assert queries.live_sessions_by_day(day - 1, day) == {day - 1: (1, 75 * 60, 4), day: (1, 0, 1)}


def test_engagement_query_count(django_assert_max_num_queries: object) -> None:
    make_activity(seed=1, users=10)
    tz = tu.zone("Europe/Berlin")
    with django_assert_max_num_queries(4):  # history start (2), rolled-up days, the metric itself
        queries.engagement(tz, days=30, end_day=tu.today_local(tz, NOW))
