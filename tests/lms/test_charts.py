from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

from lms.charts import MONTH_LABEL_WIDTH, Series, bar_chart, calendar_heatmap, heat_level, line_chart, nice_max


def test_nice_max_rounds_up_to_a_round_number():
    assert [nice_max(v) for v in (0, 3, 7, 11, 240, 0.3)] == [1.0, 5.0, 10.0, 20.0, 250.0, 0.5]


def test_line_chart_has_a_point_per_value_and_gaps_for_none():
    svg = line_chart(["a", "b", "c", "d"], [Series("DAU", [1, 2, None, 4])], title="Daily")
    assert svg.count("<circle") == 3
    assert svg.count("<polyline") == 1  # the run after the gap has one point only
    assert 'aria-label="Daily"' in svg


def test_labels_are_escaped():
    svg = bar_chart(["<script>"], [3], title="<b>")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_bar_heights_are_proportional():
    svg = bar_chart(["a", "b"], [5, 10], height=228)  # plot height 182, top 10 → nice max 10
    assert 'height="91.0"' in svg and 'height="182.0"' in svg


def test_calendar_heatmap_covers_every_day_once():
    end = date(2026, 11, 25)
    counts = {end: 5, end - timedelta(days=3): 1}
    svg = calendar_heatmap(counts, end=end, days=365)
    assert svg.count("<rect") == 365
    assert "2026-11-25: 5 reviews" in svg


def test_calendar_heatmap_month_names_stay_inside_the_chart_whatever_the_last_day():
    """In a month's first days its name sat in the last week's column and ran
    past the chart's right edge (the accessibility sweep's "Dec is clipped")."""
    for offset in range(400):
        end = date(2026, 1, 1) + timedelta(days=offset)
        svg = str(calendar_heatmap({}, end=end, days=365))
        width = int(re.search(r'viewBox="0 0 (\d+) ', svg)[1])
        labels = re.findall(r'<text x="(\d+)" y="10"( text-anchor="end")?>(\w+)</text>', svg)
        assert len(labels) >= 12, end
        for x, anchored_end, name in labels:
            left, right = (int(x) - MONTH_LABEL_WIDTH, int(x)) if anchored_end else (int(x), int(x) + MONTH_LABEL_WIDTH)
            assert left >= 0 and right <= width, (end, name, x, width)
        spans = sorted(int(x) - (MONTH_LABEL_WIDTH if end_ else 0) for x, end_, _ in labels)
        assert all(b - a >= MONTH_LABEL_WIDTH for a, b in itertools.pairwise(spans)), (end, labels)


def test_heat_levels():
    assert [heat_level(v, 10) for v in (0, 1, 5, 10)] == [0, 1, 2, 4]


def test_ticks_are_round_numbers():
    from lms.charts import tick_values

    assert tick_values(10) == [0, 2, 4, 6, 8, 10]
    assert tick_values(20) == [0, 5, 10, 15, 20]
    assert tick_values(250) == [0, 50, 100, 150, 200, 250]
    assert tick_values(1) == [0, 0.25, 0.5, 0.75, 1]


def _axis_labels(svg: str) -> list[str]:
    import re

    return re.findall(r'text-anchor="end">([^<]*)</text>', svg)


def test_small_counts_get_one_gridline_per_whole_number():
    # Quarter steps printed without decimals read "0, 0, 1, 1" — a teacher
    # cannot tell which line is which.
    assert _axis_labels(bar_chart(["a", "b"], [0, 0])) == ["0", "1"]
    assert _axis_labels(bar_chart(["a", "b"], [1, 3])) == ["0", "1", "2", "3"]
    assert _axis_labels(line_chart(["a", "b"], [Series("DAU", [2, 1])])) == ["0", "1", "2"]


def test_larger_counts_and_other_formats_keep_round_steps():
    assert _axis_labels(bar_chart(["a"], [7])) == ["0", "2", "4", "6", "8", "10"]
    assert _axis_labels(bar_chart(["a"], [0.6], value_format="{:.0%}")) == ["0%", "25%", "50%", "75%", "100%"]


def test_several_series_get_a_legend_and_every_chart_a_table():
    from lms.charts import Series, line_chart, stacked_bar_chart

    svg = line_chart(["Mon", "Tue"], [Series("DAU", [1, 2]), Series("WAU", [3, None])], title="Users")
    assert 'class="legend">DAU</text>' in svg and 'class="legend">WAU</text>' in svg
    table = svg.split('<details class="chart-table">', 1)[1]
    assert '<th scope="row">Tue</th><td>2</td><td></td>' in table
    single = line_chart(["Mon"], [Series("DAU", [1])])
    assert 'class="legend"' not in single

    stacked = stacked_bar_chart(["Mon", "Tue"], [Series("New", [1, 0]), Series("Returning", [4, 5])], title="Users")
    assert stacked.count("<rect x=") >= 4 + 2  # four segments and two legend swatches
    assert "Tue · Returning: 5" in stacked and 'class="legend">Returning</text>' in stacked
    assert '<th scope="row">Mon</th><td>1</td><td>4</td>' in stacked


def test_charts_never_shrink_below_their_drawn_size():
    from lms.charts import bar_chart

    svg = bar_chart(["a"], [1], width=440)
    assert 'style="min-width: 440px; max-width: 660px"' in svg and svg.startswith('<div class="chart-box">')


def test_long_x_labels_are_shortened_and_edge_labels_stay_inside():
    from lms.charts import Series, bar_chart, line_chart

    svg = bar_chart([f"study_session_completed_{i}" for i in range(8)], list(range(8)), width=400)
    assert "<title>study_session_completed_0</title>" in svg and "…</text>" in svg
    # The last label ends at the chart's edge instead of being cut in half ("Dec 0").
    line = line_chart([f"Dec {d:02d}" for d in range(1, 11)], [Series("DAU", list(range(10)))])
    assert 'text-anchor="end"><title>Dec 10</title>' in line
    # With too little room before it, the last label is left out rather than overlap its neighbour.
    crowded = line_chart([f"Dec {d:02d}" for d in range(1, 31)], [Series("DAU", list(range(30)))])
    assert "<title>Dec 28</title>" in crowded and "<title>Dec 30</title>" not in crowded


def test_a_long_legend_wraps_inside_the_chart():
    import re

    from lms.charts import Series, line_chart

    names = ["Perfect calibration", "SM-2 (steps)", "SM-2 as published", "FSRS-6 fitted on the class"]
    svg = line_chart(["a", "b"], [Series(n, [0.1, 0.2]) for n in names], width=400)
    xs = [float(x) for x in re.findall(r'<text x="([\d.]+)" y="[\d.]+" class="legend">', svg)]
    ends = [x + len(n) * 6.6 for x, n in zip(xs, names, strict=True)]
    assert len(set(re.findall(r'y="([\d.]+)" class="legend"', svg))) > 1 and max(ends) <= 400
