"""The status page's uptime bars (line charts come from lms.charts)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

BAR_COLORS = {
    "operational": "#2f9e44",
    "partial_outage": "#f08c00",
    "major_outage": "#e03131",
    "under_maintenance": "#3b82c4",
    "no_data": "#ced4da",
}


def uptime_bars(bars: Sequence[dict], *, label: str) -> SafeString:
    """One thin bar per day, coloured by the worst status seen that day."""
    width, height, gap = 600, 34, 2
    w = (width - gap * (len(bars) - 1)) / max(len(bars), 1)
    parts = [
        f'<svg class="chart uptime" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" aria-label="{escape(label)}">'
    ]
    for i, bar in enumerate(bars):
        status = bar["status"]
        tip = (
            f"{bar['date']}: no data"
            if bar["uptime"] is None
            else f"{bar['date']}: {bar['uptime']}% ({status.replace('_', ' ')})"
            + (f", {bar['unknown']} min without a probe" if bar.get("unknown") else "")
            + (f", {bar['maintenance']} min of maintenance" if bar.get("maintenance") else "")
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
