from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()

STATUS_CLASS = {
    "operational": "ok",
    "healthy": "ok",
    "ok": "ok",
    "resolved": "ok",
    "degraded": "warn",
    "partial_outage": "warn",
    "warning": "warn",
    "partial": "warn",
    "under_maintenance": "info",
    "maintenance": "info",
    "monitoring": "info",
    "major_outage": "bad",
    "unhealthy": "bad",
    "failed": "bad",
    "triggered": "bad",
    "unknown": "",
    # maintenance windows
    "scheduled": "info",
    "in_progress": "warn",
    "completed": "ok",
    "cancelled": "",
}


@register.filter
def status_class(value: str) -> str:
    return STATUS_CLASS.get(str(value), "warn")


@register.filter
def sev_class(severity: int) -> str:
    return {1: "bad", 2: "bad", 3: "warn"}.get(int(severity or 4), "info")


@register.filter
def humanize_status(value: str) -> str:
    return str(value or "").replace("_", " ").capitalize()


@register.filter
def seconds(value: float | None) -> str:
    """1h 05m, 12m 30s, 45s."""
    if value is None:
        return "—"
    value = int(value)
    days, rest = divmod(value, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def percent(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


@register.filter
def figure(value: object) -> str:
    """A maintenance figure as short text: sizes for tables, counts for top lists."""
    from django.template.defaultfilters import filesizeformat

    if value is None:
        return "—"
    if isinstance(value, list):
        if not value:
            return "none"
        parts = []
        for item in value:
            if isinstance(item, dict) and "name" in item:
                parts.append(f"{item['name']} ({filesizeformat(item.get('bytes', 0))})")
            elif isinstance(item, list | tuple) and len(item) == 2:
                parts.append(f"{item[0] or '—'} ({item[1]})")
            else:
                parts.append(str(item))
        return ", ".join(parts)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@register.filter
def age(value: datetime | None, now: datetime | None = None) -> str:
    """Compact time since `value`: 12 min, 5 h, 3 d (fits a stat box)."""
    if value is None:
        return "—"
    seconds_ago = max(((now or timezone.now()) - value).total_seconds(), 0)
    if seconds_ago < 3600:
        return f"{int(seconds_ago // 60)} min"
    if seconds_ago < 48 * 3600:
        return f"{int(seconds_ago // 3600)} h"
    return f"{int(seconds_ago // 86400)} d"
