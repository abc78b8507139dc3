"""Engagement and retention for the dashboards: cached figures of the closed days, a live pass over the open ones.

`queries.engagement` and `queries.retention` read every user's whole activity
history on each call (a user is "new" on their first active day ever, and
WAU/MAU join activity across days). Here the history is split:

* A local day is **closed** when every UTC day feeding it (one or two, by the
  viewer's offset) is rolled up, as is every UTC day back to the first
  activity. Closed days' figures depend only on the rollup tables, so they are
  computed once by the live queries and cached under the rollups' *version*:
  the rolled days and their latest `RollupDay.rolled_at`, which every rollup
  and every deletion of a user's data moves (services). With the version in
  the key there is nothing to invalidate: a changed rollup is a new key.
* The **open** days (today, and yesterday until the hourly rollup has run) are
  computed from their own (local day, user) pairs only, joined in Python with
  each user's first and last closed active day (cached with the figures).

The result equals the live queries exactly (tests/analytics/test_dashboard_figures.py).
"""

from __future__ import annotations

import hashlib
import logging
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import TypeVar

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from analytics import queries
from analytics import timeutil as tu
from analytics.models import RollupDay
from lms.models import User

logger = logging.getLogger(__name__)

# The key changes with every rollup, so entries only age out; an hour bounds the memory they hold.
CACHE_SECONDS = 3600
T = TypeVar("T")


@dataclass(frozen=True)
class Closed:
    history: int  # first UTC day with activity
    last_utc: int  # last UTC day of the unbroken rolled-up run from `history`
    last_local: int  # last closed local day in the viewer's zone
    version: str  # identifies the rollup tables' contents
    zone: str
    rolled: frozenset[int]  # the rolled-up days from `history` on


def closed_days(tz: tzinfo) -> Closed | None:
    """Which local days are closed, or None when nothing is (no activity, or `history` not rolled up)."""
    history = queries.history_first_day()
    if history is None:
        return None
    rows = RollupDay.objects.filter(day__gte=history).values_list("day", "rolled_at")
    rolled = dict(rows)
    last_utc = history - 1
    while last_utc + 1 in rolled:
        last_utc += 1
    if last_utc < history:
        return None
    # Local days up to the day before the first one UTC day last_utc + 1 feeds.
    last_local = min(loc for _utc, loc, _am, _pm in tu.local_day_map(last_utc + 1, last_utc + 1, tz)) - 1
    version = f"{history}-{last_utc}-{len(rolled)}-{max(rolled.values()).timestamp()}"
    return Closed(history, last_utc, last_local, version, str(tz), frozenset(rolled))


def _cached(state: Closed, name: str, compute: Callable[[], T], *key: object) -> T:
    return _get_or_set(["analytics", name, state.zone, state.version, *key], compute)


def _get_or_set(key: list[object], compute: Callable[[], T]) -> T:
    cache_key = ":".join(map(str, key))
    value = cache.get(cache_key)
    if value is None:
        value = compute()
        cache.set(cache_key, value, CACHE_SECONDS)
    return value


def _closed_users(tz: tzinfo, state: Closed) -> dict[int, tuple[int, int]]:
    """Each user's first and last active local day among the closed days."""
    return queries.first_last_active_days(
        tz, state.history, state.last_utc, upto=state.last_local, rolled=set(state.rolled)
    )


def _open_days(tz: tzinfo, state: Closed, last: int) -> dict[int, list[int]]:
    """User -> sorted local days of activity after the closed ones, up to `last`."""
    if last <= state.last_local:
        return {}
    # Local day last_local + 1 may start in UTC day last_utc (zones east of UTC).
    return queries.active_days_by_user(
        tz, state.last_utc, last + 1, after=state.last_local, upto=last, rolled=set(state.rolled)
    )


def engagement(tz: tzinfo, *, days: int = 30, end_day: int | None = None) -> queries.Engagement:
    """`queries.engagement`, from the cache for closed days and live for the open ones."""
    last = end_day if end_day is not None else tu.today_local(tz)
    first = last - days + 1
    state = closed_days(tz)
    if state is None:
        return queries.engagement(tz, days=days, end_day=last)
    c = state.last_local
    if last <= c:
        return _cached(state, "engagement", lambda: queries.engagement(tz, days=days, end_day=last), first, last)
    head = (
        _cached(state, "engagement", lambda: queries.engagement(tz, days=c - first + 1, end_day=c), first, c)
        if c >= first
        else None
    )
    users = _cached(state, "users", lambda: _closed_users(tz, state))
    lasts = sorted(hi for _lo, hi in users.values())
    opened = _open_days(tz, state, last)

    def active_since(lo: int, hi: int) -> int:
        """Distinct users active in local days [lo, hi], where hi is an open day."""
        closed = len(lasts) - bisect_left(lasts, lo)
        extra = 0
        for u, ds in opened.items():
            if u in users and users[u][1] >= lo:
                continue  # counted among the closed days
            i = bisect_left(ds, lo)
            if i < len(ds) and ds[i] <= hi:
                extra += 1
        return closed + extra

    tail_days = list(range(max(first, c + 1), last + 1))
    per_day: dict[int, int] = defaultdict(int)
    new_per_day: dict[int, int] = defaultdict(int)
    for u, ds in opened.items():
        for d in ds:
            per_day[d] += 1
        if u not in users:
            new_per_day[ds[0]] += 1
    dau = [per_day[d] for d in tail_days]
    new = [new_per_day[d] for d in tail_days]
    wau = [active_since(d - 6, d) for d in tail_days]
    mau = [active_since(d - 29, d) for d in tail_days]
    if head is not None:
        dau, new, wau, mau = head.dau + dau, head.new + new, head.wau + wau, head.mau + mau
    return queries.Engagement(
        days=list(range(first, last + 1)),
        dau=dau,
        wau=wau,
        mau=mau,
        new=new,
        returning=[a - b for a, b in zip(dau, new, strict=True)],
        active_users=active_since(first, last),
        new_users=sum(new),
    )


def retention(tz: tzinfo, *, cohorts: int = 8, today: int | None = None) -> list[queries.Cohort]:
    """`queries.retention`, from the cached grid of closed days plus the open days' activity."""
    today = today if today is not None else tu.today_local(tz)
    state = closed_days(tz)
    if state is None:
        return queries.retention(tz, cohorts=cohorts, today=today)
    upto = min(state.last_local, today)
    cached = _cached(
        state, "retention", lambda: queries.retention_grid(tz, state.history, upto, rolled=set(state.rolled)), upto
    )
    grid: dict[int, dict[int, int]] = {cw: dict(row) for cw, row in cached.items()}
    if today > state.last_local:
        users = _cached(state, "users", lambda: _closed_users(tz, state))
        for u, ds in _open_days(tz, state, today).items():
            known = users.get(u)
            cohort = queries.week_index(known[0] if known else ds[0])
            for week in {queries.week_index(d) for d in ds}:
                if known and known[1] >= week * 7 - 3:
                    continue  # active on a closed day of that week: counted in the cached grid
                k = week - cohort
                if 0 <= k <= queries.RETENTION_WEEKS:
                    row = grid.setdefault(cohort, {})
                    row[k] = row.get(k, 0) + 1
    return queries.cohorts_from_grid(grid, cohorts=cohorts, today=today)


def _rolled_features(rolled: set[int]) -> tuple[dict[str, int], dict[str, int], list[str], dict[int, int]]:
    events, users = queries.rolled_feature_counts(rolled)
    names, seen = queries.rolled_feature_seen(rolled)
    return events, users, names, seen


def feature_usage(first_day: int, last_day: int, *, exclude: tuple[str, ...] = ()) -> list[queries.FeatureRow]:
    """`queries.feature_usage`: the rolled-up days' counts cached, the other days live.

    Distinct users over the range are the rolled-up days' (cached) plus the
    open days' (name, user) pairs that do not occur on a rolled-up day of the
    range (which names each user used there is cached too, as a bitmask).
    """
    rows = RollupDay.objects.filter(day__gte=first_day, day__lte=last_day).values_list("day", "rolled_at")
    stamps = dict(rows)
    rolled = set(stamps)
    events: dict[str, int] = {}
    users: dict[str, int] = {}
    bit: dict[str, int] = {}
    seen: dict[int, int] = {}
    if rolled:
        # The rolled days and their latest rollup (which deletions move too) identify the counts.
        days = hashlib.blake2b(",".join(map(str, sorted(rolled))).encode(), digest_size=12).hexdigest()
        version = max(stamps.values()).timestamp()
        cached = _get_or_set(["analytics", "features", days, version], lambda: _rolled_features(rolled))
        events, users = dict(cached[0]), dict(cached[1])
        bit = {name: i for i, name in enumerate(cached[2])}
        seen = cached[3]
    runs = queries.live_runs(first_day, last_day, rolled)
    if runs:
        for (name, user), n in queries.live_feature_users(runs).items():
            events[name] = events.get(name, 0) + n
            if user is not None and not (name in bit and seen.get(user, 0) >> bit[name] & 1):
                users[name] = users.get(name, 0) + 1
    return queries.feature_rows(events, users, exclude=exclude)


def warm_for_viewers(*, ranges: tuple[int, ...] = (7, 30, 90)) -> list[str]:
    """Fill the cache after a rollup for every zone a staff member or admin views analytics in,
    so the first view of the dashboards does not pay for the closed days. Best effort: logged, never raised."""
    zones = sorted(
        set(
            User.objects.filter(Q(is_staff=True) | Q(role=User.Role.ADMIN), is_active=True).values_list(
                "timezone", flat=True
            )
        )
    )
    try:
        today = tu.utc_day_of(timezone.now())
        for days in ranges:
            feature_usage(today - days + 1, today)
        for name in zones:
            tz = tu.zone(name)
            for days in ranges:
                engagement(tz, days=days)
            retention(tz)
    except Exception:
        logger.exception("could not warm the analytics dashboards' cache")
    return zones
