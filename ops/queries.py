"""Reads: request performance over a window, and the public status page."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ops import histogram, uptime
from ops.availability import Availability
from ops.metrics import ROW_FIELDS, Aggregate, minute_of, window_start
from ops.models import HealthProbe, Incident, MaintenanceWindow, RequestMetric


def metric_rows(minutes: int, now: datetime | None = None, endpoint: str | None = None) -> Any:
    rows = RequestMetric.objects.filter(bucket_start__gte=window_start(minutes, now))
    if now is not None:
        rows = rows.filter(bucket_start__lte=minute_of(now))
    if endpoint:
        rows = rows.filter(route=endpoint)
    return rows


FOLD_FIELDS = ("method", "route", *ROW_FIELDS)


def _fold_tuple(agg: Aggregate, values: tuple) -> None:
    """Add one row (a values_list tuple in ROW_FIELDS order, the order of
    `Aggregate.row_fields`) in place: plain tuples and in-place adds keep a day
    of rows fast."""
    count, client, server, dur, low, high, hist, codes = values
    agg.count += count
    agg.client_errors += client
    agg.server_errors += server
    agg.duration_sum_ms += dur
    if low is not None and (agg.duration_min_ms is None or low < agg.duration_min_ms):
        agg.duration_min_ms = low
    if high is not None and (agg.duration_max_ms is None or high > agg.duration_max_ms):
        agg.duration_max_ms = high
    target = agg.histogram
    for i, n in enumerate(hist):
        if n:
            target[i] += n
    status = agg.status_codes
    for code, n in codes.items():
        status[code] = status.get(code, 0) + n


def _fold(rows: Any) -> dict[tuple[str, str], Aggregate]:
    out: dict[tuple[str, str], Aggregate] = {}
    for method, route, *values in rows.values_list(*FOLD_FIELDS).iterator(chunk_size=5000):
        key = (method, route)
        agg = out.get(key)
        if agg is None:
            agg = out[key] = Aggregate()
        _fold_tuple(agg, values)
    return out


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def describe(method: str, route: str, agg: Aggregate) -> dict[str, Any]:
    hist, low, high = agg.histogram, agg.duration_min_ms, agg.duration_max_ms
    return {
        "endpoint": route,
        "method": method,
        "request_count": agg.count,
        "error_count": agg.server_errors,
        "client_error_count": agg.client_errors,
        "error_rate": _rate(agg.server_errors, agg.count),
        "duration_ms": {
            "min": round(low, 2) if low is not None else None,
            "max": round(high, 2) if high is not None else None,
            "avg": round(agg.duration_sum_ms / agg.count, 2) if agg.count else None,
            "p50": histogram.percentile(hist, 0.50, low=low, high=high),
            "p95": histogram.percentile(hist, 0.95, low=low, high=high),
            "p99": histogram.percentile(hist, 0.99, low=low, high=high),
        },
        "status_codes": dict(sorted(agg.status_codes.items())),
    }


def fold_window(minutes: int = 60, *, now: datetime | None = None) -> dict[tuple[str, str], Aggregate]:
    return _fold(metric_rows(minutes, now))


def fold_between(start: datetime, end: datetime) -> dict[tuple[str, str], Aggregate]:
    """Request metrics of [start, end), minute and hour rows alike (for reports)."""
    return _fold(RequestMetric.objects.filter(bucket_start__gte=start, bucket_start__lt=end))


def performance(
    minutes: int = 60,
    *,
    now: datetime | None = None,
    endpoint: str | None = None,
    folded: dict[tuple[str, str], Aggregate] | None = None,
) -> dict[str, Any]:
    """Per route+method, keyed "METHOD:route" like the brief."""
    if folded is None:
        folded = _fold(metric_rows(minutes, now, endpoint))
    return {
        f"{method}:{route}": describe(method, route, agg)
        for (method, route), agg in sorted(folded.items(), key=lambda item: (item[0][1], item[0][0]))
    }


def totals(
    minutes: int = 60, *, now: datetime | None = None, folded: dict[tuple[str, str], Aggregate] | None = None
) -> dict[str, Any]:
    """Everything in the window folded into one aggregate, plus route counts
    (pass `folded` from `fold_window` to avoid reading the rows twice)."""
    if folded is None:
        folded = _fold(metric_rows(minutes, now))
    total = Aggregate()
    for agg in folded.values():
        total.count += agg.count
        total.client_errors += agg.client_errors
        total.server_errors += agg.server_errors
        total.duration_sum_ms += agg.duration_sum_ms
        total.histogram = histogram.merge([total.histogram, agg.histogram])
        for bound in (agg.duration_min_ms,):
            if bound is not None:
                total.duration_min_ms = bound if total.duration_min_ms is None else min(total.duration_min_ms, bound)
        if agg.duration_max_ms is not None:
            total.duration_max_ms = (
                agg.duration_max_ms
                if total.duration_max_ms is None
                else max(total.duration_max_ms, agg.duration_max_ms)
            )
    hist, low, high = total.histogram, total.duration_min_ms, total.duration_max_ms
    return {
        "requests": {
            "total": total.count,
            "errors": total.server_errors,
            "client_errors": total.client_errors,
            "error_rate": _rate(total.server_errors, total.count),
        },
        "performance": {
            "avg_duration_ms": round(total.duration_sum_ms / total.count, 2) if total.count else None,
            "p50_duration_ms": histogram.percentile(hist, 0.50, low=low, high=high),
            "p95_duration_ms": histogram.percentile(hist, 0.95, low=low, high=high),
            "p99_duration_ms": histogram.percentile(hist, 0.99, low=low, high=high),
        },
        "endpoints": {
            "total": len(folded),
            "with_errors": sum(1 for agg in folded.values() if agg.server_errors),
        },
    }


def series(minutes: int = 60, *, now: datetime | None = None, step: int = 1) -> list[dict[str, Any]]:
    """Per `step` minutes over the window (every slot present, zero when idle)."""
    start = window_start(minutes, now)
    per_slot: dict[int, Aggregate] = defaultdict(Aggregate)
    for bucket_start, *values in (
        metric_rows(minutes, now).values_list("bucket_start", *FOLD_FIELDS[2:]).iterator(chunk_size=5000)
    ):
        slot = int((bucket_start - start).total_seconds() // 60) // step
        _fold_tuple(per_slot[slot], values)
    out = []
    for slot in range((minutes + step - 1) // step):
        agg = per_slot.get(slot, Aggregate())
        out.append(
            {
                "minute": start + timedelta(minutes=slot * step),
                "requests": agg.count,
                "requests_per_minute": round(agg.count / step, 2),
                "errors": agg.server_errors,
                "error_rate": _rate(agg.server_errors, agg.count),
                "p95_ms": histogram.percentile(agg.histogram, 0.95, low=agg.duration_min_ms, high=agg.duration_max_ms),
            }
        )
    return out


# --- Status page ---------------------------------------------------------------

COMPONENTS = [c.value for c in HealthProbe.Component]
CRITICAL_COMPONENTS = {"web", "database"}
PROBE_TO_STATUS = {"healthy": "operational", "degraded": "partial_outage", "unhealthy": "major_outage"}
# Gaps are downtime: a component with no probe for OPS_PROBE_GAP_MINUTES (2) is "unknown",
# an outage of unknown cause, and rolls up like a major outage (never "operational").
OUTAGE = {"major_outage", "unknown"}


def stale_after() -> timedelta:
    return timedelta(minutes=settings.OPS_PROBE_GAP_MINUTES)


def uptime_bars(days: int = 90, *, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Per component: one bar per day (oldest first) and the uptime over all
    days, counted by ops.availability (Statuspage weighting, gaps as downtime,
    maintenance excluded) through the same per-day figures as the SLA report."""
    now = now or timezone.now()
    today = timezone.localtime(now, timezone.get_default_timezone()).date()
    first = today - timedelta(days=days - 1)
    per_day = uptime.daily(first, today, now=now)
    out: dict[str, dict[str, Any]] = {}
    for component in COMPONENTS:
        bars = []
        for i in range(days):
            day = first + timedelta(days=i)
            value = per_day.get((component, day)) or Availability()
            bars.append(
                {
                    "date": day,
                    "uptime": value.percent,
                    "status": value.worst,
                    "major": value.major,
                    "partial": value.partial,
                    "unknown": value.unknown,
                    "maintenance": value.maintenance,
                }
            )
        total = uptime.total(per_day, component)
        out[component] = {"bars": bars, "uptime": total.percent, "minutes": total.expected}
    return out


def current_components(*, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    now = now or timezone.now()
    out = {}
    for component in COMPONENTS:
        probe = (
            HealthProbe.objects.filter(component=component, checked_at__lte=now)
            .order_by("-checked_at")
            .only("status", "latency_ms", "checked_at", "message")
            .first()
        )
        if probe is None or now - probe.checked_at > stale_after():
            out[component] = {"status": "unknown", "checked_at": probe.checked_at if probe else None}
        else:
            out[component] = {
                "status": PROBE_TO_STATUS.get(probe.status, "major_outage"),
                "latency_ms": probe.latency_ms,
                "checked_at": probe.checked_at,
            }
    return out


def overall_status(components: dict[str, dict[str, Any]], *, in_maintenance: bool, open_incidents: int) -> str:
    if in_maintenance:
        return "maintenance"
    statuses = {name: info["status"] for name, info in components.items()}
    if any(s in OUTAGE and name in CRITICAL_COMPONENTS for name, s in statuses.items()):
        return "major_outage"
    if any(s in OUTAGE for s in statuses.values()):
        return "partial_outage"
    if any(s == "partial_outage" for s in statuses.values()) or open_incidents:
        return "degraded"
    return "operational"


def status_page(*, now: datetime | None = None) -> dict[str, Any]:
    """Everything the public status page shows (and /api/v1/status/ returns)."""
    from ops.services import maintenance_mode_on

    now = now or timezone.now()
    components = current_components(now=now)
    uptime = uptime_bars(settings.OPS_STATUS_UPTIME_DAYS, now=now)
    active_windows = list(MaintenanceWindow.objects.active(now))
    upcoming = list(MaintenanceWindow.objects.upcoming(now).filter(starts_at__gt=now)[:10])
    active = list(Incident.objects.open().order_by("severity", "-triggered_at").prefetch_related(_public_updates()))
    recent = list(
        Incident.objects.filter(triggered_at__gte=now - timedelta(days=14), status=Incident.Status.RESOLVED)
        .order_by("-triggered_at")
        .prefetch_related(_public_updates())
    )
    for window in active_windows:
        for component in window.components:
            if component in components:
                components[component]["status"] = "under_maintenance"
    return {
        "status": overall_status(
            components, in_maintenance=bool(active_windows) or maintenance_mode_on(), open_incidents=len(active)
        ),
        "components": {
            name: {**info, "uptime_90d": uptime[name]["uptime"], "bars": uptime[name]["bars"]}
            for name, info in components.items()
        },
        "active_incidents": [_public_incident(i) for i in active],
        "recent_incidents": [_public_incident(i) for i in recent],
        "maintenance": {
            "active": [_window(w) for w in active_windows],
            "upcoming": [_window(w) for w in upcoming],
        },
        "updated_at": now,
    }


def _public_updates() -> Any:
    from django.db.models import Prefetch

    from ops.models import IncidentUpdate

    return Prefetch(
        "updates", queryset=IncidentUpdate.objects.filter(public=True).order_by("-created_at"), to_attr="public_updates"
    )


def _public_incident(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "title": incident.title,
        "severity": f"SEV{incident.severity}",
        "status": incident.status,
        "components": incident.components,
        "started_at": incident.triggered_at,
        "resolved_at": incident.resolved_at,
        "updates": [{"at": u.created_at, "status": u.status, "message": u.message} for u in incident.public_updates],
    }


def _window(window: MaintenanceWindow) -> dict[str, Any]:
    return {
        "title": window.title,
        "message": window.message,
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
        "components": window.components,
    }
