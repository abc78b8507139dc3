"""lms.chart_annotations: the registry apps use to shade periods on charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lms import chart_annotations as ca
from lms.charts import Series, line_chart

T = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_providers_are_asked_and_a_failing_one_is_skipped() -> None:
    def good(start: datetime, end: datetime) -> list[ca.Annotation]:
        return [
            ca.Annotation(T, T + timedelta(minutes=10), ca.INCIDENT, "SEV2 errors"),
            ca.Annotation(T + timedelta(hours=5), T + timedelta(hours=6), ca.MAINTENANCE, "later"),
        ]

    def broken(start: datetime, end: datetime) -> list[ca.Annotation]:
        raise RuntimeError("database down")

    saved = dict(ca._providers)
    try:
        ca._providers.clear()
        ca.register("good", good)
        ca.register("broken", broken)
        marks = ca.between(T - timedelta(hours=1), T + timedelta(hours=1))
        assert [m.label for m in marks] == ["SEV2 errors"]
        assert not ca.in_maintenance(T, T + timedelta(hours=1))
        assert ca.in_maintenance(T + timedelta(hours=5, minutes=30), T + timedelta(hours=7))
    finally:
        ca._providers.clear()
        ca._providers.update(saved)


def test_shades_map_periods_to_chart_slots_and_the_chart_draws_them() -> None:
    slots = [T + timedelta(minutes=5 * i) for i in range(12)]
    mark = ca.Annotation(T + timedelta(minutes=12), T + timedelta(minutes=21), ca.INCIDENT, "SEV1 outage")
    shades = ca.shades([mark], slots, timedelta(minutes=5))
    assert shades == [ca.Shade(2, 4, ca.INCIDENT, "SEV1 outage")]
    svg = line_chart([s.strftime("%H:%M") for s in slots], [Series("x", list(range(12)))], shades=shades)
    assert svg.count('class="chart-shade incident"') == 1 and "<title>SEV1 outage</title>" in svg
    assert 'class="chart-shade' not in line_chart(["a", "b"], [Series("x", [1, 2])])
