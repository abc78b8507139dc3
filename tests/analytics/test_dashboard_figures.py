"""The dashboards' cached engagement, retention and feature usage equal the live computation: with some days
rolled up and some not, after new events, after a new day's rollup and after a user's data is deleted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.cache import cache

from analytics import dashboard_figures, queries, services
from analytics import timeutil as tu
from analytics.models import Event
from tests.analytics.test_engagement import NOW, make_activity
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ZONES = ["UTC", "America/Los_Angeles", "Europe/Berlin", "Asia/Kathmandu"]
TODAY_UTC = tu.utc_day_of(NOW)


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def assert_equal_to_live(zone: str) -> None:
    for days in (1, 7, 60):
        first = TODAY_UTC - days + 1
        assert dashboard_figures.feature_usage(first, TODAY_UTC) == queries.feature_usage(first, TODAY_UTC), days
    tz = tu.zone(zone)
    today = tu.today_local(tz, NOW)
    for days in (1, 7, 30, 60):
        assert dashboard_figures.engagement(tz, days=days, end_day=today) == queries.engagement(
            tz, days=days, end_day=today
        ), (zone, days)
    for cohorts in (1, 10):
        assert dashboard_figures.retention(tz, cohorts=cohorts, today=today) == queries.retention(
            tz, cohorts=cohorts, today=today
        ), (zone, cohorts)


def add_events(user: object, *moments: timedelta, name: str = "page_view") -> None:
    Event.objects.bulk_create([Event(name=name, user=user, timestamp=NOW - ago) for ago in moments])


@pytest.mark.parametrize("zone", ZONES)
def test_figures_equal_the_live_ones_with_the_last_days_open(zone: str) -> None:
    make_activity(seed=7)
    services.rollup_range(TODAY_UTC - 75, TODAY_UTC - 3)  # the last two UTC days and today stay live
    state = dashboard_figures.closed_days(tu.zone(zone))
    assert state is not None and state.last_utc == TODAY_UTC - 3
    assert_equal_to_live(zone)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Los_Angeles"])
def test_figures_follow_new_events_a_new_rollup_and_deletions(zone: str) -> None:
    make_activity(seed=9)
    services.rollup_range(TODAY_UTC - 75, TODAY_UTC - 2)
    tz = tu.zone(zone)
    today = tu.today_local(tz, NOW)
    before = dashboard_figures.engagement(tz, days=30, end_day=today)
    assert_equal_to_live(zone)

    # New events today: an existing user back after a while, and a brand-new user.
    regular = Event.objects.filter(user__isnull=False).order_by("timestamp").first().user
    newcomer = UserFactory()
    add_events(regular, timedelta(minutes=5))
    add_events(newcomer, timedelta(minutes=3), timedelta(minutes=2))
    add_events(newcomer, timedelta(minutes=1), name="deck_created")  # a name no rolled-up day has
    after = dashboard_figures.engagement(tz, days=30, end_day=today)
    assert after.new_users == before.new_users + 1
    assert_equal_to_live(zone)

    # Yesterday's rollup closes one more day.
    services.rollup_day(TODAY_UTC - 1)
    assert_equal_to_live(zone)

    # A late event on a rolled-up day counts once that day is rolled up again.
    add_events(newcomer, timedelta(days=1, hours=1))
    services.rollup_day(tu.utc_day_of(NOW - timedelta(days=1, hours=1)))
    assert_equal_to_live(zone)

    # Forgetting a user's data (privacy request), then deleting another account.
    services.delete_user_events(regular.pk)
    assert_equal_to_live(zone)
    other = Event.objects.filter(user__isnull=False, timestamp__lt=NOW - timedelta(days=20)).first().user
    other.delete()
    assert_equal_to_live(zone)


def test_nothing_rolled_up_is_the_live_computation() -> None:
    make_activity(seed=4, users=10)
    tz = tu.zone("Europe/Berlin")
    assert dashboard_figures.closed_days(tz) is None
    assert_equal_to_live("Europe/Berlin")


def test_no_activity_at_all() -> None:
    tz = tu.zone("UTC")
    assert dashboard_figures.closed_days(tz) is None
    empty = dashboard_figures.engagement(tz, days=7, end_day=TODAY_UTC)
    assert empty.dau == [0] * 7
    assert dashboard_figures.retention(tz, today=TODAY_UTC) == []


def test_closed_days_are_read_from_the_cache(django_assert_max_num_queries: object) -> None:
    make_activity(seed=2, users=10)
    services.rollup_range(TODAY_UTC - 75, TODAY_UTC - 1)
    tz = tu.zone("Europe/Berlin")
    today = tu.today_local(tz, NOW)
    first = dashboard_figures.engagement(tz, days=30, end_day=today)
    cohorts = dashboard_figures.retention(tz, today=today)
    # history start (2), the rolled-up days, and the open days' pairs (the rolled-up days among them, the pairs)
    with django_assert_max_num_queries(5):
        assert dashboard_figures.engagement(tz, days=30, end_day=today) == first
    with django_assert_max_num_queries(5):
        assert dashboard_figures.retention(tz, today=today) == cohorts


def test_a_rollup_warms_the_cache_for_each_viewer_zone(django_assert_max_num_queries: object) -> None:
    make_activity(seed=6, users=10)
    services.rollup_range(TODAY_UTC - 75, TODAY_UTC - 1)
    UserFactory(role="admin", timezone="Asia/Kolkata")
    UserFactory(role="student", timezone="Pacific/Auckland")  # not a viewer
    assert "Pacific/Auckland" not in dashboard_figures.warm_for_viewers()
    tz = tu.zone("Asia/Kolkata")
    # Only what every view reads: history start (2), the rolled-up days, the open days
    with django_assert_max_num_queries(4):
        dashboard_figures.engagement(tz, days=30)
    with django_assert_max_num_queries(4):
        dashboard_figures.retention(tz)
