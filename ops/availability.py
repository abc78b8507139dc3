"""Availability from health probes, the way Statuspage counts it, with gaps as downtime.

Pure Python (no Django): the status page's 90-day uptime and the monthly SLA
report both add up `Availability` values made here, so the two cannot disagree.

The rules, per component and per minute of the period:

* A minute *is expected* once monitoring has begun (`monitored_from`, the first
  probe ever stored) and is not in the future.
* A minute inside a scheduled maintenance window is counted as maintenance and
  left out of the expected minutes (Statuspage: "under maintenance" is not
  downtime; the SLA excludes planned work).
* Otherwise the minute takes the worst status of the probes in it: an
  unhealthy probe is a **major outage** (counts fully as downtime), a degraded
  one a **partial outage** (counts 30 %), a healthy one is operational.
* A minute with no probe at all is **unknown** and counts as a major outage:
  when nothing could check the component we cannot claim it was up.

Statuspage's documented weighting ("Display historical uptime of components",
help.statuspage.io/help/uptime-calendar): uptime is driven by the minutes a
component spends in major outage (100 % downtime) or partial outage (30 % of
downtime); degraded performance and maintenance are not downtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MAJOR_WEIGHT = 1.0
PARTIAL_WEIGHT = 0.3
UNKNOWN_WEIGHT = 1.0  # a gap is an outage of unknown cause

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
# Worst wins within a minute; anything unrecognised is taken as unhealthy.
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}
MINUTE = timedelta(minutes=1)

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class Availability:
    """Minutes of one component (or several, added up) over a period."""

    expected: int = 0  # minutes that count: monitored, past, not maintenance
    operational: int = 0
    partial: int = 0
    major: int = 0
    unknown: int = 0  # expected minutes with no probe
    maintenance: int = 0  # excluded: inside a maintenance window

    def __add__(self, other: Availability) -> Availability:
        return Availability(
            expected=self.expected + other.expected,
            operational=self.operational + other.operational,
            partial=self.partial + other.partial,
            major=self.major + other.major,
            unknown=self.unknown + other.unknown,
            maintenance=self.maintenance + other.maintenance,
        )

    @property
    def downtime_minutes(self) -> float:
        return MAJOR_WEIGHT * self.major + UNKNOWN_WEIGHT * self.unknown + PARTIAL_WEIGHT * self.partial

    @property
    def ratio(self) -> float | None:
        """Uptime as a fraction, or None when no minute was expected."""
        if not self.expected:
            return None
        return 1 - self.downtime_minutes / self.expected

    @property
    def percent(self) -> float | None:
        ratio = self.ratio
        return None if ratio is None else round(100 * ratio, 3)

    @property
    def worst(self) -> str:
        """The day-bar colour: the worst thing that happened in the period."""
        if not self.expected and not self.maintenance:
            return "no_data"
        if self.major or self.unknown:
            return "major_outage"
        if self.partial:
            return "partial_outage"
        if not self.expected:
            return "under_maintenance"
        return "operational"

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "expected_minutes": self.expected,
            "operational_minutes": self.operational,
            "partial_outage_minutes": self.partial,
            "major_outage_minutes": self.major,
            "unknown_minutes": self.unknown,
            "maintenance_minutes": self.maintenance,
            "downtime_minutes": round(self.downtime_minutes, 2),
            "uptime_percent": self.percent,
        }


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def merge_windows(windows: Iterable[Window]) -> list[Window]:
    """Sorted, non-overlapping windows (touching ones joined)."""
    out: list[Window] = []
    for start, end in sorted(w for w in windows if w[1] > w[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def overlaps(start: datetime, end: datetime, windows: Iterable[Window]) -> bool:
    """Whether [start, end) shares any time with one of the windows."""
    return any(w_start < end and start < w_end for w_start, w_end in windows)


def rank(status: str) -> int:
    """0 healthy, 1 degraded, 2 unhealthy (or anything unrecognised)."""
    return _RANK.get(status, 2)


def availability(
    probes: Iterable[tuple[datetime, str]],
    *,
    start: datetime,
    end: datetime,
    maintenance: Sequence[Window] = (),
    monitored_from: datetime | None = None,
) -> Availability:
    """One component's minutes in [start, end) from its probes
    ((checked_at, status) pairs, any order; those outside the period are ignored).

    `end` should be the start of the current minute at the latest: the minute
    in progress may not have had its probe yet. A minute is in maintenance when
    it starts inside a window."""
    start, end = floor_minute(start), floor_minute(end)
    if monitored_from is not None:
        start = max(start, floor_minute(monitored_from))
    if end <= start:
        return Availability()
    worst: list[int] = [-1] * int((end - start) / MINUTE)
    for checked_at, status in probes:
        index = int((checked_at - start) // MINUTE)
        if 0 <= index < len(worst):
            worst[index] = max(worst[index], rank(status))
    return tally(worst, start=start, maintenance=maintenance)


def tally(worst: Sequence[int], *, start: datetime, maintenance: Sequence[Window] = ()) -> Availability:
    """Count minutes from the worst probe rank of each minute from `start`
    (-1: no probe), leaving out those that start inside a maintenance window.
    (`availability` builds `worst` from probes; the database can build it too.)"""
    minutes = len(worst)
    in_maintenance = [False] * minutes
    for w_start, w_end in merge_windows(maintenance):
        first_index = max(0, -int((start - w_start) // MINUTE))  # ceil((w_start - start) / MINUTE)
        last_index = min(minutes, -int((start - w_end) // MINUTE))
        for index in range(first_index, last_index):
            in_maintenance[index] = True
    counts = [0, 0, 0]
    unknown = maintenance_minutes = 0
    for index in range(minutes):
        if in_maintenance[index]:
            maintenance_minutes += 1
        elif worst[index] < 0:
            unknown += 1
        else:
            counts[worst[index]] += 1
    return Availability(
        expected=minutes - maintenance_minutes,
        operational=counts[0],
        partial=counts[1],
        major=counts[2],
        unknown=unknown,
        maintenance=maintenance_minutes,
    )


def error_budget(availability: Availability, target_percent: float) -> dict[str, float | None]:
    """Allowed downtime for the target over the expected minutes, and what is left of it."""
    if not availability.expected:
        return {"allowed_minutes": None, "used_minutes": 0.0, "left_minutes": None, "left_percent": None}
    allowed = availability.expected * (1 - target_percent / 100)
    used = availability.downtime_minutes
    left = allowed - used
    return {
        "allowed_minutes": round(allowed, 2),
        "used_minutes": round(used, 2),
        "left_minutes": round(left, 2),
        "left_percent": round(100 * left / allowed, 1) if allowed else None,
    }
