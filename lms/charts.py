"""Small server-side SVG charts: no JavaScript, no build step, CSP-friendly.

Every chart is an accessible `<svg role="img">` with a title, scales to its
container (`viewBox`), and carries a `<title>` tooltip on each mark so the
exact figure is one hover away. Colours come from a short palette that reads
well on white and for the common forms of colour blindness.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from lms.chart_annotations import Shade

PALETTE = ["#3457d5", "#e07b00", "#1f8a4c", "#c53030", "#7b4fc9", "#0e8fa3"]
GRID = "#e6e9f0"
AXIS_TEXT = "#5b6478"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str = ""


def _fmt(value: float, value_format: str | Callable[[float], str]) -> str:
    if callable(value_format):
        return value_format(value)
    return value_format.format(value)


def nice_max(value: float) -> float:
    """The smallest 'round' number (1, 2, 2.5, 5 × 10^k) at or above value."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def tick_values(top: float) -> list[float]:
    """Gridline values from 0 to `top` in round steps (0, 2, 4 … 10, not 2.5, 7.5)."""
    for intervals in (4, 5, 2, 3):
        step = top / intervals
        if top < 4 or abs(step - round(step)) < 1e-9:
            return [step * i for i in range(intervals + 1)]
    return [top * i / 4 for i in range(5)]


COUNT_FORMAT = "{:,.0f}"


def axis(max_value: float, value_format: str | Callable[[float], str]) -> tuple[float, list[float]]:
    """The axis top and its gridlines. Whole-number charts with small counts get
    one gridline per whole number: quarter steps printed without decimals would
    read "0, 0, 1, 1" (or "1, 1, 0, 0, 0" on an empty chart)."""
    if value_format == COUNT_FORMAT and max_value <= 5:
        top = max(1, math.ceil(max_value))
        return float(top), [float(v) for v in range(top + 1)]
    top = nice_max(max_value)
    return top, tick_values(top)


def _svg(
    width: int, height: int, title: str, body: list[str], *, table: tuple[list[str], list[list[str]]] | None = None
) -> SafeString:
    """The chart, in a box that scrolls sideways rather than shrink it: the SVG
    never renders narrower than its viewBox (so its 11 px labels stay at least
    11 px on a phone) nor much wider (so they stay modest on a desktop). With
    `table` (headers, rows), the same figures follow as a table, folded away
    for sighted users and readable by screen readers and keyboard users."""
    label = escape(title or "Chart")
    svg = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
        f'style="min-width: {width}px; max-width: {round(width * 1.5)}px" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet"><title>{label}</title>'
        + "".join(body)
        + "</svg>"
    )
    html = f'<div class="chart-box">{svg}</div>'
    if table is not None:
        headers, rows = table
        head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
        lines = "".join(
            "<tr>"
            + f'<th scope="row">{escape(row[0])}</th>'
            + "".join(f"<td>{escape(c)}</td>" for c in row[1:])
            + "</tr>"
            for row in rows
        )
        html += (
            f'<details class="chart-table"><summary>{label}: the figures as a table</summary>'
            f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table></div></details>'
        )
    return mark_safe(html)  # noqa: S308 - every dynamic string above is escaped


def _x_label(x: float, y: float, text: str, left_edge: float, right_edge: float, room: float) -> str:
    """An x-axis label that stays inside the chart: anchored at its start or end
    near an edge, shortened with an ellipsis when it is wider than its slot
    (the full text is in its tooltip)."""
    full = text
    max_chars = max(3, int(room / LABEL_CHAR_WIDTH))
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    half = len(text) * LABEL_CHAR_WIDTH / 2
    anchor = "middle"
    if x - half < left_edge:
        anchor, x = "start", max(x - 4, left_edge)
    elif x + half > right_edge:
        anchor, x = "end", min(x + 4, right_edge)
    return f'<text x="{x:.1f}" y="{y}" text-anchor="{anchor}"><title>{escape(full)}</title>{escape(text)}</text>'


# About how wide one character of an 11 px label is, in chart units.
LABEL_CHAR_WIDTH = 6.6


def _legend(series: Sequence[Series], x: float, y: float, right_edge: float) -> tuple[list[str], int]:
    """Swatch and name per series in rows from the left, wrapping before
    `right_edge` (only for several series); returns the marks and the rows used."""
    if len(series) < 2:
        return [], 0
    out, start, rows = [], x, 1
    for index, s in enumerate(series):
        color = s.color or PALETTE[index % len(PALETTE)]
        item_w = 16 + len(s.name) * LABEL_CHAR_WIDTH
        if x + item_w > right_edge and x > start:
            x, y, rows = start, y + 16, rows + 1
        out.append(f'<rect x="{x:.1f}" y="{y - 1:.1f}" width="12" height="4" rx="1" fill="{color}"/>')
        out.append(f'<text x="{x + 16:.1f}" y="{y + 4:.1f}" class="legend">{escape(s.name)}</text>')
        x += item_w + 14
    return out, rows


def _y_grid(
    ticks: Sequence[float],
    y: Callable[[float], float],
    left: float,
    right_edge: float,
    value_format: str | Callable[[float], str],
) -> list[str]:
    """A grid line and a left-hand label per tick."""
    body = []
    for value in ticks:
        ty = y(value)
        body.append(f'<line x1="{left}" x2="{right_edge}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{escape(_fmt(value, value_format))}</text>'
        )
    return body


def _label_step(count: int, room: float, per_label: float = 56) -> int:
    return max(1, math.ceil(count * per_label / max(room, 1)))


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 640,
    height: int = 220,
    title: str = "",
    y_max: float | None = None,
    value_format: str | Callable[[float], str] = COUNT_FORMAT,
    shades: Sequence[Shade] = (),
) -> SafeString:
    """One or more lines over shared x labels; None values leave a gap.
    `shades` (lms.chart_annotations) mark incident and maintenance periods behind the lines."""
    left, right, bottom = 48, 12, 28
    legend, legend_rows = _legend(series, left, 8, width - right)
    top = 12 + 16 * legend_rows
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series for v in s.values if v is not None]
    if y_max is not None:
        top_value, ticks = y_max, tick_values(y_max)
    else:
        top_value, ticks = axis(max(values, default=0), value_format)
    count = max(len(labels), 1)

    def x(i: int) -> float:
        return left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - (plot_h * min(v, top_value) / top_value if top_value else 0)

    body: list[str] = _shade_rects(shades, x, count, top, plot_h)
    body += _y_grid(ticks, y, left, width - right, value_format)
    step = _label_step(count, plot_w)
    for i, label in enumerate(labels):
        # The last label too, unless it would sit on top of the one before it.
        # (end-anchored, it reaches back its whole width: 1.5 label widths from the previous one's centre).
        if i % step == 0 or (
            i == count - 1 and (i % step) * plot_w / max(count - 1, 1) > 1.5 * len(label) * LABEL_CHAR_WIDTH
        ):
            body.append(_x_label(x(i), height - 8, label, 0, width, step * plot_w / max(count - 1, 1)))
    body += legend
    for index, s in enumerate(series):
        color = s.color or PALETTE[index % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
                continue
            runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
            body.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{2.5 if count <= 60 else 1.5}" fill="{color}">'
                f"<title>{escape(s.name)} · {escape(labels[i] if i < len(labels) else '')}: "
                f"{escape(_fmt(v, value_format))}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                body.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                    f'stroke-linejoin="round" points="{" ".join(run)}"/>'
                )
    table = (
        ["", *[s.name for s in series]],
        [
            [label, *["" if s.values[i] is None else _fmt(s.values[i], value_format) for s in series]]
            for i, label in enumerate(labels)
            if i < min((len(s.values) for s in series), default=0)
        ],
    )
    return _svg(width, height, title, body, table=table)


SHADE_COLORS = {"incident": "#c53030", "maintenance": "#3457d5"}


def _shade_rects(
    shades: Sequence[Shade], x: Callable[[int], float], count: int, top: float, plot_h: float
) -> list[str]:
    """Translucent bands behind a line chart, one per annotation, with its label as tooltip."""
    half = (x(1) - x(0)) / 2 if count > 1 else 0
    out = []
    for shade in shades:
        x0, x1 = x(shade.first) - half, x(shade.last) + half
        out.append(
            f'<rect class="chart-shade {escape(shade.kind)}" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 2):.1f}" '
            f'height="{plot_h:.1f}" fill="{SHADE_COLORS.get(shade.kind, GRID)}" fill-opacity="0.12">'
            f"<title>{escape(shade.label)}</title></rect>"
        )
    return out


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    width: int = 640,
    height: int = 220,
    title: str = "",
    color: str = PALETTE[0],
    colors: Sequence[str] | None = None,
    value_format: str | Callable[[float], str] = COUNT_FORMAT,
    show_values: bool = True,
) -> SafeString:
    """Vertical bars, one per label, with the value above each bar."""
    left, right, top, bottom = 40, 8, 18, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    count = max(len(values), 1)
    top_value, ticks = axis(max(values, default=0), value_format)
    slot = plot_w / count
    bar_w = max(slot * 0.7, 1)
    body = _y_grid(ticks, lambda v: top + plot_h - plot_h * v / top_value, left, width - right, value_format)
    step = _label_step(count, plot_w, per_label=48)
    for i, (label, value) in enumerate(zip(labels, values, strict=False)):
        bar_h = plot_h * value / top_value if top_value else 0
        bx = left + slot * i + (slot - bar_w) / 2
        by = top + plot_h - bar_h
        fill = colors[i % len(colors)] if colors else color
        text = escape(_fmt(value, value_format))
        body.append(
            f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" rx="2" fill="{fill}">'
            f"<title>{escape(label)}: {text}</title></rect>"
        )
        if show_values and count <= 24:
            body.append(f'<text x="{bx + bar_w / 2:.1f}" y="{by - 4:.1f}" text-anchor="middle">{text}</text>')
        if i % step == 0:
            body.append(_x_label(bx + bar_w / 2, height - 8, label, 0, width, slot * step))
    table = (["", title or "Value"], [[label, _fmt(v, value_format)] for label, v in zip(labels, values, strict=False)])
    return _svg(width, height, title, body, table=table)


def stacked_bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 640,
    height: int = 220,
    title: str = "",
    value_format: str | Callable[[float], str] = COUNT_FORMAT,
) -> SafeString:
    """Bars made of one segment per series (new and returning users, say),
    with a legend; each segment's figure is in its tooltip and the table."""
    left, right, bottom = 40, 8, 28
    legend, legend_rows = _legend(series, left, 10, width - right)
    top = 12 + 16 * legend_rows
    plot_w, plot_h = width - left - right, height - top - bottom
    count = max(len(labels), 1)
    totals = [sum((s.values[i] or 0) for s in series if i < len(s.values)) for i in range(len(labels))]
    top_value, ticks = axis(max(totals, default=0), value_format)
    slot = plot_w / count
    bar_w = max(slot * 0.7, 1)
    body = _y_grid(ticks, lambda v: top + plot_h - plot_h * v / top_value, left, width - right, value_format)
    step = _label_step(count, plot_w, per_label=48)
    for i, label in enumerate(labels):
        bx = left + slot * i + (slot - bar_w) / 2
        base = top + plot_h
        for index, s in enumerate(series):
            value = (s.values[i] if i < len(s.values) else 0) or 0
            seg_h = plot_h * value / top_value if top_value else 0
            base -= seg_h
            color = s.color or PALETTE[index % len(PALETTE)]
            body.append(
                f'<rect x="{bx:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{seg_h:.1f}" fill="{color}">'
                f"<title>{escape(label)} · {escape(s.name)}: {escape(_fmt(value, value_format))}</title></rect>"
            )
        if i % step == 0:
            body.append(_x_label(bx + bar_w / 2, height - 8, label, 0, width, slot * step))
    body += legend
    table = (
        ["", *[s.name for s in series]],
        [
            [label, *[_fmt((s.values[i] if i < len(s.values) else 0) or 0, value_format) for s in series]]
            for i, label in enumerate(labels)
        ],
    )
    return _svg(width, height, title, body, table=table)


# Text on levels 3 and 4 is white, on the lighter ones dark: both at 4.5:1 or more.
HEAT_COLORS = ["#ebedf0", "#c6d3f7", "#8fa7ee", "#4a6cdc", "#2440a8"]


def heat_level(value: float, maximum: float) -> int:
    """0 for nothing, then four levels relative to the maximum."""
    if value <= 0 or maximum <= 0:
        return 0
    return min(4, 1 + int(3.999 * value / maximum))


MONTH_LABEL_WIDTH = 26  # "May", "Dec" at 11 px: at most about 24 px wide


def calendar_heatmap(
    counts: dict[date, int],
    *,
    end: date,
    days: int = 365,
    title: str = "Activity",
    unit: str = "reviews",
) -> SafeString:
    """A GitHub-style year of days: columns are weeks (Monday first)."""
    cell, gap, left, top = 11, 2, 26, 16
    start = end - timedelta(days=days - 1)
    first_monday = start - timedelta(days=start.weekday())
    weeks = (end - first_monday).days // 7 + 1
    width = left + weeks * (cell + gap) + 4
    height = top + 7 * (cell + gap) + 4
    maximum = max((v for d, v in counts.items() if start <= d <= end), default=0)
    body: list[str] = []
    for row, name in ((0, "Mon"), (2, "Wed"), (4, "Fri")):
        body.append(f'<text x="0" y="{top + row * (cell + gap) + cell - 1}">{name}</text>')
    last_month = None
    for week in range(weeks):
        for weekday in range(7):
            day = first_monday + timedelta(days=week * 7 + weekday)
            if day < start or day > end:
                continue
            if (weekday == 0 or day == start) and day.month != last_month and day.day <= 7:
                x = left + week * (cell + gap)
                if x + MONTH_LABEL_WIDTH > width:
                    # A month begun in the last week or two (the first days of
                    # a month): its name ends at the edge instead of past it.
                    body.append(f'<text x="{width}" y="10" text-anchor="end">{day.strftime("%b")}</text>')
                else:
                    body.append(f'<text x="{x}" y="10">{day.strftime("%b")}</text>')
                last_month = day.month
            value = counts.get(day, 0)
            color = HEAT_COLORS[heat_level(value, maximum)]
            body.append(
                f'<rect x="{left + week * (cell + gap)}" y="{top + weekday * (cell + gap)}" width="{cell}" '
                f'height="{cell}" rx="2" fill="{color}"><title>{day.isoformat()}: {value} {escape(unit)}</title></rect>'
            )
    return _svg(width, height, title, body)


def heat_color(value: float, maximum: float = 1.0) -> str:
    """A cell background for heatmap tables (retention cohorts and the like)."""
    return HEAT_COLORS[heat_level(value, maximum)]


def heat_text_color(value: float, maximum: float = 1.0) -> str:
    """The text colour that reads on `heat_color` at 4.5:1 or more."""
    return "#fff" if heat_level(value, maximum) >= 3 else "#1d2433"
