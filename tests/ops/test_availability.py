"""ops.availability: the pure minute counting behind the status page and the SLA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ops.availability import Availability, availability, error_budget, merge_windows, overlaps

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def at(minute: int, second: int = 5) -> datetime:
    return T0 + timedelta(minutes=minute, seconds=second)


def healthy(minutes: range) -> list[tuple[datetime, str]]:
    return [(at(m), "healthy") for m in minutes]


def test_a_probe_every_minute_is_full_uptime() -> None:
    result = availability(healthy(range(60)), start=T0, end=at(60, 0))
    assert result == Availability(expected=60, operational=60)
    assert result.percent == 100.0


def test_a_minute_without_a_probe_counts_as_an_outage() -> None:
    probes = healthy(range(60))
    del probes[10:13]  # three minutes nothing checked the component
    result = availability(probes, start=T0, end=at(60, 0))
    assert (result.unknown, result.operational, result.expected) == (3, 57, 60)
    assert result.downtime_minutes == 3
    assert result.percent == pytest.approx(100 * (1 - 3 / 60), abs=0.001)


def test_statuspage_weighting_major_fully_partial_30_percent() -> None:
    probes = [*healthy(range(0, 50)), *[(at(m), "unhealthy") for m in range(50, 55)]]
    probes += [(at(m), "degraded") for m in range(55, 60)]
    result = availability(probes, start=T0, end=at(60, 0))
    assert (result.major, result.partial) == (5, 5)
    assert result.downtime_minutes == pytest.approx(5 + 0.3 * 5)
    assert result.ratio == pytest.approx(1 - 6.5 / 60)


def test_the_worst_probe_of_a_minute_wins_and_unknown_statuses_are_outages() -> None:
    probes = [(at(0, 5), "healthy"), (at(0, 35), "unhealthy"), (at(1, 5), "degraded"), (at(1, 40), "healthy")]
    probes += [(at(2), "exploded")]
    result = availability(probes, start=T0, end=at(3, 0))
    assert (result.major, result.partial, result.operational) == (2, 1, 0)


def test_maintenance_minutes_are_left_out_even_when_down() -> None:
    probes = [*healthy(range(0, 20)), *[(at(m), "unhealthy") for m in range(20, 30)], *healthy(range(30, 60))]
    window = (T0 + timedelta(minutes=20), T0 + timedelta(minutes=30))
    result = availability(probes, start=T0, end=at(60, 0), maintenance=[window])
    assert (result.maintenance, result.expected, result.major) == (10, 50, 0)
    assert result.percent == 100.0
    # A gap inside maintenance is not downtime either.
    result = availability(healthy(range(0, 20)), start=T0, end=at(30, 0), maintenance=[window])
    assert (result.unknown, result.maintenance) == (0, 10)


def test_minutes_before_monitoring_began_are_not_expected() -> None:
    result = availability(healthy(range(30, 60)), start=T0, end=at(60, 0), monitored_from=at(30, 5))
    assert result == Availability(expected=30, operational=30)
    # Never monitored at all: nothing expected, no percentage.
    empty = availability([], start=T0, end=at(60, 0), monitored_from=at(90))
    assert empty.expected == 0 and empty.percent is None and empty.worst == "no_data"


def test_probes_outside_the_period_are_ignored_and_days_add_up() -> None:
    probes = healthy(range(-5, 125))
    first = availability(probes, start=T0, end=at(60, 0))
    second = availability(probes, start=at(60, 0), end=at(120, 0))
    whole = availability(probes, start=T0, end=at(120, 0))
    assert first + second == whole


def test_error_budget_of_the_target() -> None:
    month = Availability(expected=43200, operational=43000, major=200)
    budget = error_budget(month, 99.5)
    assert budget["allowed_minutes"] == pytest.approx(216)
    assert budget["left_minutes"] == pytest.approx(16)
    assert budget["left_percent"] == pytest.approx(7.4)
    overspent = error_budget(Availability(expected=1000, major=10), 99.5)
    assert overspent["left_minutes"] == pytest.approx(-5)


def test_windows_merge_and_overlap() -> None:
    a = (at(0, 0), at(10, 0))
    b = (at(5, 0), at(20, 0))
    c = (at(30, 0), at(40, 0))
    assert merge_windows([c, b, a]) == [(at(0, 0), at(20, 0)), c]
    assert overlaps(at(19, 0), at(25, 0), [a, b]) and not overlaps(at(20, 0), at(30, 0), [a, b, c])
