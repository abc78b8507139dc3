"""Grace windows: days lost to our own outages neither break nor lengthen streaks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from learning import grace
from learning.progress import streaks

D = date(2026, 11, 10)


def days(*offsets: int) -> set[date]:
    return {D + timedelta(days=o) for o in offsets}


def test_a_lost_day_bridges_a_streak_without_counting() -> None:
    studied = days(0, 1, 3, 4)  # day 2 missed
    assert streaks(studied, D + timedelta(days=4)) == (2, 2)
    assert streaks(studied, D + timedelta(days=4), days(2)) == (4, 4)


def test_lost_days_at_the_end_keep_the_current_streak_alive() -> None:
    studied = days(0, 1, 2)
    today = D + timedelta(days=5)
    assert streaks(studied, today) == (0, 3)
    assert streaks(studied, today, days(3, 4)) == (3, 3)
    assert streaks(studied, today, days(4)) == (0, 3)  # day 3 was not ours to forgive


def test_lost_days_need_a_quarter_hour_of_the_local_day() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 11, 10, 22, 50, tzinfo=UTC)  # 23:50 in Berlin
    lost = grace.lost_days(berlin, [(start, start + timedelta(minutes=40))])  # to 00:30 Berlin
    assert lost == {date(2026, 11, 11)}  # 10 minutes of the 10th, 30 of the 11th
    assert grace.lost_days(UTC, [(start, start + timedelta(minutes=40))]) == {date(2026, 11, 10)}  # 22:50-23:30 UTC


def test_the_service_records_windows_and_days_without_review_skip_them() -> None:
    start = datetime(2026, 11, 12, 8, tzinfo=UTC)
    grace.grace_window_set(key="ops:incident:1", starts_at=start, ends_at=start + timedelta(hours=30), reason="SEV1")
    grace.grace_window_set(key="ops:incident:1", starts_at=start, ends_at=start + timedelta(hours=6), reason="SEV1")
    assert grace.windows() == [(start, start + timedelta(hours=6))]
    last = datetime(2026, 11, 10, 9, tzinfo=UTC)
    assert grace.days_without_review(last, datetime(2026, 11, 18, 10, tzinfo=UTC), UTC) == 7
    grace.grace_window_clear(key="ops:incident:1")
    assert grace.days_without_review(last, datetime(2026, 11, 18, 10, tzinfo=UTC), UTC) == 8
