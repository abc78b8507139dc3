"""Funnels from SQL against a brute-force reading of the definition."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from analytics import services
from analytics.funnel import FunnelError, FunnelSpec
from analytics.models import Event
from analytics.queries import cached_funnel, funnel
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def reference_depth(events: list[tuple[int, str, datetime]], steps: list[str], window: timedelta) -> int:
    """Deepest step reachable: distinct events, non-decreasing times, last - first <= window.

    Exhaustive search over every assignment (no greedy shortcut), so it checks
    the SQL's greedy argument rather than repeating it.
    """
    best = 0

    def extend(k: int, used: set[int], t_prev: datetime, t_first: datetime) -> None:
        nonlocal best
        best = max(best, k)
        if k == len(steps) or best == len(steps):
            return
        for event_id, name, ts in events:
            if name == steps[k] and event_id not in used and ts >= t_prev and ts - t_first <= window:
                extend(k + 1, used | {event_id}, ts, t_first)

    for event_id, name, ts in events:
        if name == steps[0]:
            extend(1, {event_id}, ts, ts)
    return best


def reference_counts(steps: list[str], days: int, window_hours: int) -> list[int]:
    since = NOW - timedelta(days=days)
    per_user: dict[int, list[tuple[int, str, datetime]]] = {}
    for event in Event.objects.filter(user__isnull=False, timestamp__gte=since, timestamp__lte=NOW):
        per_user.setdefault(event.user_id, []).append((event.id, event.name, event.timestamp))
    depths = [reference_depth(evs, steps, timedelta(hours=window_hours)) for evs in per_user.values()]
    return [sum(1 for d in depths if d >= k) for k in range(1, len(steps) + 1)]


def make_random_events(seed: int, users: int = 30) -> None:
    rng = random.Random(seed)
    people = [UserFactory() for _ in range(users)]
    rows = []
    for person in people:
        for _ in range(rng.randint(0, 9)):
            # Minute resolution over 12 days: plenty of equal timestamps and repeats.
            ts = NOW - timedelta(minutes=rng.randint(0, 12 * 24 * 60 // 20) * 20)
            rows.append(Event(name=rng.choice("aabbccdx"), user=person, timestamp=ts))
    rows.append(Event(name="a", user=None, timestamp=NOW - timedelta(hours=1)))  # anonymous: never counted
    Event.objects.bulk_create(rows)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize(
    ("steps", "days", "window_hours"),
    [
        (["a", "b"], 7, 336),
        (["a", "b", "c"], 10, 24),
        (["a", "b", "c", "d"], 12, 72),
        (["a", "a", "b"], 12, 48),
        (["b", "a", "b", "a"], 12, 100),
        (["c", "c", "c"], 5, 336),
    ],
)
def test_funnel_matches_the_definition_on_random_events(
    seed: int, steps: list[str], days: int, window_hours: int
) -> None:
    make_random_events(seed)
    result = funnel(FunnelSpec(tuple(steps), days=days, window_hours=window_hours), now=NOW)
    assert [s.users for s in result.steps] == reference_counts(steps, days, window_hours)


@pytest.mark.parametrize("seed", range(10, 18))
@pytest.mark.parametrize(("steps", "window_hours"), [(["a", "b", "c", "d"], 30), (["d", "c", "b"], 6)])
def test_distinct_step_funnel_matches_the_definition_on_more_random_events(
    seed: int, steps: list[str], window_hours: int
) -> None:
    # Distinct names take PostgreSQL's index-only form: more data sets, windows short enough to cut chains.
    make_random_events(seed, users=40)
    result = funnel(FunnelSpec(tuple(steps), days=12, window_hours=window_hours), now=NOW)
    assert [s.users for s in result.steps] == reference_counts(steps, 12, window_hours)


def _events(user: object, *pairs: tuple[str, datetime]) -> None:
    Event.objects.bulk_create([Event(name=name, user=user, timestamp=ts) for name, ts in pairs])


def test_window_edge_is_inclusive_to_the_microsecond() -> None:
    t0 = NOW - timedelta(days=3, microseconds=250)
    inside, outside = UserFactory(), UserFactory()
    _events(inside, ("a", t0), ("b", t0 + timedelta(hours=2)))
    _events(outside, ("a", t0), ("b", t0 + timedelta(hours=2, microseconds=1)))
    result = funnel(FunnelSpec(("a", "b"), days=7, window_hours=2), now=NOW)
    assert [s.users for s in result.steps] == [2, 1]


def test_out_of_order_skipped_and_repeated_steps() -> None:
    t = NOW - timedelta(days=1)
    backwards, skipper, repeater, same_time = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    _events(backwards, ("b", t), ("a", t + timedelta(minutes=1)))  # b before a: step 1 only
    _events(skipper, ("a", t), ("c", t + timedelta(minutes=1)))  # skipped b: step 1 only
    _events(
        repeater,
        ("a", t),
        ("a", t + timedelta(minutes=1)),
        ("b", t + timedelta(minutes=2)),
        ("b", t + timedelta(minutes=3)),
        ("c", t + timedelta(minutes=4)),
    )
    _events(same_time, ("a", t), ("b", t), ("c", t))  # equal times are allowed
    result = funnel(FunnelSpec(("a", "b", "c"), days=2), now=NOW)
    assert [s.users for s in result.steps] == [4, 2, 2]
    assert result.steps[1].conversion == 0.5
    assert result.steps[1].drop_off == 0.5
    assert result.overall_conversion == 0.5


def test_a_repeated_step_needs_a_different_event() -> None:
    t = NOW - timedelta(hours=5)
    once, twice = UserFactory(), UserFactory()
    _events(once, ("a", t))
    _events(twice, ("a", t), ("a", t))
    result = funnel(FunnelSpec(("a", "a"), days=1), now=NOW)
    assert [s.users for s in result.steps] == [2, 1]


def test_events_outside_the_range_do_not_count() -> None:
    person = UserFactory()
    _events(person, ("a", NOW - timedelta(days=8)), ("b", NOW - timedelta(days=6)))
    assert [s.users for s in funnel(FunnelSpec(("a", "b"), days=7), now=NOW).steps] == [0, 0]


def test_median_time_between_steps() -> None:
    t = NOW - timedelta(days=1)
    for minutes in (10, 20, 60):
        _events(UserFactory(), ("a", t), ("b", t + timedelta(minutes=minutes)))
    result = funnel(FunnelSpec(("a", "b"), days=2), now=NOW)
    assert result.steps[1].median_seconds == 1200
    assert result.steps[0].median_seconds is None


def test_breakdown_by_a_property_of_step_one() -> None:
    t = NOW - timedelta(days=1)
    for mode, converts in (("learn", True), ("learn", False), ("test", True)):
        person = UserFactory()
        Event.objects.create(name="a", user=person, timestamp=t, properties={"mode": mode})
        if converts:
            Event.objects.create(name="b", user=person, timestamp=t + timedelta(minutes=1))
    result = funnel(FunnelSpec(("a", "b"), days=2, breakdown="mode"), now=NOW)
    assert result.breakdown == {"learn": [2, 1], "test": [1, 1]}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"steps": ("a",)}, "steps"),
        ({"steps": tuple("abcdefghijk")}, "steps"),
        ({"steps": ("a", "Bad Name")}, "steps"),
        ({"steps": ("a", "b"), "days": -1}, "days"),
        ({"steps": ("a", "b"), "window_hours": 0}, "window_hours"),
        ({"steps": ("a", "b"), "breakdown": "x'); drop"}, "breakdown"),
    ],
)
def test_invalid_definitions_are_refused(kwargs: dict, field: str) -> None:
    with pytest.raises(FunnelError) as info:
        FunnelSpec(**kwargs)
    assert info.value.field == field


def test_funnel_is_one_query(django_assert_num_queries: object) -> None:
    make_random_events(7)
    with django_assert_num_queries(1):
        funnel(FunnelSpec(("a", "b", "c", "d"), days=12), now=NOW)


def _users_per_step(result: object) -> list[int]:
    return [s.users for s in result.steps]


def test_a_repeated_funnel_comes_from_the_cache_until_events_are_deleted(
    settings: object, django_assert_num_queries: object, django_capture_on_commit_callbacks: object
) -> None:
    settings.ANALYTICS_FUNNEL_CACHE_SECONDS = 60
    kept, erased, closed = UserFactory(), UserFactory(), UserFactory()
    t = timezone.now() - timedelta(hours=1)
    for person in (kept, erased, closed):
        _events(person, ("a", t), ("b", t + timedelta(minutes=1)))
    spec = FunnelSpec(("a", "b"), days=1)
    first = cached_funnel(spec)
    assert _users_per_step(first) == [3, 3]

    with django_assert_num_queries(0):
        assert cached_funnel(spec) == first
    with django_assert_num_queries(1):  # another definition is computed
        assert _users_per_step(cached_funnel(FunnelSpec(("a", "b"), days=2, window_hours=1))) == [3, 3]

    services.delete_user_events(erased.pk)  # a user's erasure
    assert _users_per_step(cached_funnel(spec)) == [2, 2] == _users_per_step(funnel(spec))

    with django_capture_on_commit_callbacks(execute=True):  # the account itself deleted
        closed.delete()
    assert _users_per_step(cached_funnel(spec)) == [1, 1] == _users_per_step(funnel(spec))


def test_the_retention_purge_drops_cached_funnels(settings: object) -> None:
    settings.ANALYTICS_FUNNEL_CACHE_SECONDS = 60
    settings.ANALYTICS_RETENTION_DAYS = 5
    person = UserFactory()
    now = timezone.now()
    _events(person, ("a", now - timedelta(days=6)), ("b", now - timedelta(days=6) + timedelta(minutes=1)))
    spec = FunnelSpec(("a", "b"), days=7)
    assert _users_per_step(cached_funnel(spec)) == [1, 1]
    assert services.purge_old_events(now=now) == 2
    assert _users_per_step(cached_funnel(spec)) == [0, 0] == _users_per_step(funnel(spec))


def test_the_funnel_is_computed_each_time_with_the_cache_off(django_assert_num_queries: object) -> None:
    _events(UserFactory(), ("a", timezone.now() - timedelta(hours=1)))
    spec = FunnelSpec(("a", "b"), days=1)
    for _ in range(2):
        with django_assert_num_queries(1):
            assert _users_per_step(cached_funnel(spec)) == [1, 0]
