"""Reads: availability per component and day from the stored probes and the
scheduled maintenance windows, through `ops.availability` (the one place the
rules live). The status page's 90-day uptime and the SLA report both add up
these days, so their figures agree to the minute.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import F, Min, Q
from django.utils import timezone

from lms import cache as lms_cache
from ops import availability
from ops.availability import Availability, Window
from ops.models import HealthProbe, MaintenanceWindow

COMPONENTS = [c.value for c in HealthProbe.Component]
DAY_CACHE_SECONDS = 6 * 3600
VERSION_KEY = "ops:availability-version"


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def _version() -> int:
    return cache.get_or_set(VERSION_KEY, 1, None) or 1


def forget() -> None:
    """Cached days are out of date (a maintenance window changed)."""
    lms_cache.invalidate(bump=[VERSION_KEY])


def monitored_from() -> dict[str, datetime | None]:
    """Each component's first stored probe: minutes before it were never expected."""
    key = "ops:monitored-from"
    found = cache.get(key)
    if found is None:
        firsts = dict(
            HealthProbe.objects.order_by()
            .values_list("component")
            .annotate(first=Min("checked_at"))
            .values_list("component", "first")
        )
        found = {c: firsts.get(c) for c in COMPONENTS}
        if any(found.values()):
            cache.set(key, found, 3600)
    return found


def maintenance_windows(start: datetime, end: datetime) -> dict[str, list[Window]]:
    """Per component, the scheduled (not cancelled before it began) maintenance
    in [start, end); a window that names no component covers them all. A
    window stopped early counts until it was stopped."""
    out: dict[str, list[Window]] = defaultdict(list)
    rows = MaintenanceWindow.objects.filter(starts_at__lt=end, ends_at__gt=start).filter(
        Q(cancelled_at__isnull=True) | Q(cancelled_at__gt=F("starts_at"))
    )
    for window in rows.only("starts_at", "ends_at", "cancelled_at", "components"):
        stop = min(window.ends_at, window.cancelled_at) if window.cancelled_at else window.ends_at
        for component in window.components or COMPONENTS:
            out[component].append((window.starts_at, stop))
    return out


def in_maintenance(start: datetime, end: datetime, component: str | None = None) -> bool:
    """Whether any of [start, end) was inside scheduled maintenance (of the
    component, or of any component)."""
    windows = maintenance_windows(start, end)
    spans = windows.get(component, []) if component else [w for ws in windows.values() for w in ws]
    return availability.overlaps(start, end, spans)


# The worst probe rank of each minute, computed by the database: loading a
# month of probe timestamps into Python costs seconds, small integers do not.
_MINUTE_SQL = {
    "postgresql": "FLOOR(EXTRACT(EPOCH FROM (checked_at - %s::timestamptz)) / 60)::int",
    # Whole seconds (the anchor is a whole minute), so integer division is exact.
    "sqlite": "(CAST(strftime('%%s', checked_at) AS INTEGER) - CAST(strftime('%%s', %s) AS INTEGER)) / 60",
}
_RANK_SQL = "MAX(CASE status WHEN 'healthy' THEN 0 WHEN 'degraded' THEN 1 ELSE 2 END)"


def _worst_minutes(start: datetime, end: datetime) -> dict[str, list[int]]:
    """Per component, the worst probe rank of each minute of [start, end) (-1: no probe)."""
    minutes = int((end - start).total_seconds() // 60)
    out = {c: [-1] * minutes for c in COMPONENTS}
    table = HealthProbe._meta.db_table
    if connection.vendor in _MINUTE_SQL:
        anchor: object = start
        if connection.vendor == "sqlite":  # stored as naive UTC text
            anchor = start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        sql = (
            f"SELECT component, {_MINUTE_SQL[connection.vendor]} AS m, {_RANK_SQL} FROM {table} "  # noqa: S608
            "WHERE checked_at >= %s AND checked_at < %s GROUP BY component, m"
        )
        bounds = [connection.ops.adapt_datetimefield_value(t) for t in (start, end)]  # as the ORM stores them
        with connection.cursor() as cursor:
            cursor.execute(sql, [anchor, *bounds])
            rows = cursor.fetchall()
    else:  # any other database: the same in Python
        rows = [
            (c, int((t - start).total_seconds() // 60), availability.rank(s))
            for c, t, s in HealthProbe.objects.filter(checked_at__gte=start, checked_at__lt=end)
            .order_by()
            .values_list("component", "checked_at", "status")
            .iterator(chunk_size=10000)
        ]
    for component, minute, worst in rows:
        if component in out and 0 <= minute < minutes:
            out[component][minute] = max(out[component][minute], worst)
    return out


def _compute_days(days: list[date], now: datetime) -> dict[tuple[str, date], Availability]:
    """Availability of every component on each of `days` (one probe query for the span)."""
    first, last = min(days), max(days)
    end_cap = availability.floor_minute(now)
    span_start, span_end = day_start(first), min(day_start(last + timedelta(days=1)), end_cap)
    worst = _worst_minutes(span_start, span_end) if span_end > span_start else {c: [] for c in COMPONENTS}
    windows = maintenance_windows(span_start, span_end)
    since = monitored_from()
    out = {}
    for day in days:
        for component in COMPONENTS:
            begun = since.get(component)
            start = day_start(day)
            if begun is not None:
                start = max(start, availability.floor_minute(begun))
            end = min(day_start(day + timedelta(days=1)), end_cap)
            if begun is None or end <= start:
                out[(component, day)] = Availability()
                continue
            offset = int((start - span_start).total_seconds() // 60)
            length = int((end - start).total_seconds() // 60)
            out[(component, day)] = availability.tally(
                worst[component][offset : offset + length], start=start, maintenance=windows.get(component, ())
            )
    return out


def daily(first: date, last: date, *, now: datetime | None = None) -> dict[tuple[str, date], Availability]:
    """Availability per (component, day) for first..last inclusive. Finished
    days are cached (their probes do not change); today is always computed."""
    now = now or timezone.now()
    today = timezone.localtime(now, timezone.get_default_timezone()).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1) if first + timedelta(days=i) <= today]
    if not days:
        return {}
    version = _version()

    def key(day: date) -> str:
        return f"ops:availability:{version}:{day.isoformat()}"

    finished = [d for d in days if d < today]
    cached = cache.get_many([key(d) for d in finished]) if finished else {}
    out: dict[tuple[str, date], Availability] = {}
    missing = []
    for day in finished:
        row = cached.get(key(day))
        if row is None:
            missing.append(day)
        else:
            out.update({(c, day): Availability(**counts) for c, counts in row.items()})
    if missing:
        computed = _compute_days(missing, now)
        out.update(computed)
        cache.set_many({key(d): {c: computed[(c, d)].__dict__ for c in COMPONENTS} for d in missing}, DAY_CACHE_SECONDS)
    if today in days:
        out.update(_compute_days([today], now))
    return out


def total(per_day: dict[tuple[str, date], Availability], component: str | None = None) -> Availability:
    """The days added up, for one component or all of them."""
    result = Availability()
    for (name, _), value in per_day.items():
        if component is None or name == component:
            result = result + value
    return result


def snoozed_components(now: datetime | None = None) -> set[str]:
    """Components under scheduled maintenance right now: their detection rules
    and incident pages are snoozed until the window ends."""
    now = now or timezone.now()
    out: set[str] = set()
    for components in MaintenanceWindow.objects.active(now).values_list("components", flat=True):
        out.update(components or COMPONENTS)
    return out
