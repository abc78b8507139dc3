"""Grace windows: time a student could not study because of us.

Learning knows nothing of incidents or maintenance; whoever runs the service
(ops) records the windows here, and streaks and "days without a review" skip
the local days they cover: such a day neither breaks a streak nor adds to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from learning.models import GraceWindow
from lms import cache as lms_cache

# A day is lost when the window took at least this much of it (a two-minute blip is not).
MIN_LOST = timedelta(minutes=15)
CACHE_KEY = "learning:grace-windows"


# --- Writes ------------------------------------------------------------------------


@transaction.atomic
def grace_window_set(*, key: str, starts_at: datetime, ends_at: datetime, reason: str = "") -> GraceWindow:
    """Record (or move) the window named `key`."""
    if not key or len(key) > 80:
        raise ValidationError({"key": ["A key of at most 80 characters is required."]})
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": ["A grace window must end after it starts."]})
    window, _ = GraceWindow.objects.update_or_create(
        key=key, defaults={"starts_at": starts_at, "ends_at": ends_at, "reason": reason[:200]}
    )
    lms_cache.invalidate(delete=[CACHE_KEY])
    return window


@transaction.atomic
def grace_window_clear(*, key: str) -> int:
    deleted = GraceWindow.objects.filter(key=key).delete()[0]
    lms_cache.invalidate(delete=[CACHE_KEY])
    return deleted


# --- Reads -------------------------------------------------------------------------


def windows() -> list[tuple[datetime, datetime]]:
    """Every grace window (they are few: a handful a year), cached."""
    found = cache.get(CACHE_KEY)
    if found is None:
        found = list(GraceWindow.objects.order_by("starts_at").values_list("starts_at", "ends_at"))
        cache.set(CACHE_KEY, found, 3600)
    return found


def lost_days(tz: tzinfo, spans: Iterable[tuple[datetime, datetime]] | None = None) -> set[date]:
    """The local days (in `tz`) of which a grace window took at least MIN_LOST."""
    out: set[date] = set()
    for start, end in windows() if spans is None else spans:
        day = start.astimezone(tz).date()
        while True:
            day_start = datetime.combine(day, datetime.min.time(), tz)
            day_end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
            if day_start >= end:
                break
            if min(end, day_end) - max(start, day_start) >= MIN_LOST:
                out.add(day)
            day += timedelta(days=1)
    return out


def days_without_review(last_active: datetime, now: datetime, tz: tzinfo, lost: set[date] | None = None) -> int:
    """Whole days since `last_active`, not counting days we lost (`lost`:
    `lost_days(tz)`, read once by a caller that asks for many students)."""
    days = (now - last_active).days
    if days <= 0:
        return days
    first = last_active.astimezone(tz).date()
    last = now.astimezone(tz).date()
    return max(days - sum(1 for d in (lost_days(tz) if lost is None else lost) if first < d <= last), 0)
