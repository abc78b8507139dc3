"""Small server-side SVG charts for the ops pages (no JavaScript)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe


def line_chart(
    values: Sequence[float | None],
    labels: Sequence[str],
    *,
    title: str,
    unit: str = "",
    color: str = "#3b5bdb",
    width: int = 640,
    height: int = 180,
    threshold: float | None = None,
) -> SafeString:
    """A line over evenly spaced points; None is a gap. The y axis starts at 0."""
    pad_l, pad_r, pad_t, pad_b = 48, 12, 12, 24
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    present = [v for v in values if v is not None]
    top = max([*present, threshold or 0, 0]) or 1
    top *= 1.1
    n = max(len(values) - 1, 1)

    def x(i: int) -> float:
        return pad_l + inner_w * i / n

    def y(v: float) -> float:
        return pad_t + inner_h * (1 - v / top)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for frac in (0, 0.5, 1):
        gy = pad_t + inner_h * (1 - frac)
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#e6e9f0"/>')
        parts.append(
            f'<text x="{pad_l - 6}" y="{gy + 4:.1f}" text-anchor="end">{_fmt(top * frac / 1.1 * 1.1)}{escape(unit)}</text>'
        )
    if threshold is not None:
        ty = y(threshold)
        parts.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#c92a2a" stroke-dasharray="4 3"/>'
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, v in enumerate(values):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
        else:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(seg)}"/>')
    if labels:
        for i in sorted({0, len(labels) // 2, len(labels) - 1}):
            anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
            parts.append(f'<text x="{x(i):.1f}" y="{height - 6}" text-anchor="{anchor}">{escape(labels[i])}</text>')
    if not present:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">No data in this window</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2g}"


BAR_COLORS = {
    "operational": "#2f9e44",
    "partial_outage": "#f08c00",
    "major_outage": "#e03131",
    "no_data": "#ced4da",
}


def uptime_bars(bars: Sequence[dict], *, label: str) -> SafeString:
    """One thin bar per day, coloured by the worst status seen that day."""
    width, height, gap = 600, 34, 2
    w = (width - gap * (len(bars) - 1)) / max(len(bars), 1)
    parts = [f'<svg class="chart uptime" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    for i, bar in enumerate(bars):
        status = bar["status"]
        tip = (
            f"{bar['date']}: no data"
            if bar["uptime"] is None
            else f"{bar['date']}: {bar['uptime']}% ({status.replace('_', ' ')})"
        )
        parts.append(
            format_html(
                '<rect x="{}" y="0" width="{}" height="{}" rx="1.5" fill="{}"><title>{}</title></rect>',
                f"{i * (w + gap):.2f}",
                f"{w:.2f}",
                height,
                BAR_COLORS.get(status, "#ced4da"),
                tip,
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - rects built with format_html
