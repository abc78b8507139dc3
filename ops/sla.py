"""Reads: the monthly SLA report, per component and overall.

Availability comes from `ops.uptime` (the same per-day figures as the status
page, counted by `ops.availability`: Statuspage weighting, gaps as downtime,
scheduled maintenance left out). Incident figures come from the incidents
triggered in the month; backups from the restore drills recorded in it.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import date, datetime, timedelta
from statistics import mean
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from ops import availability, histogram, queries, uptime
from ops.metrics import Aggregate
from ops.models import BackupDrill, DetectionRule, HealthProbe, Incident, Severity

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
COMPONENT_LABELS = {c.value: c.label for c in HealthProbe.Component}


def parse_month(text: str) -> date:
    """'2026-11' → date(2026, 11, 1), or a ValidationError naming the field."""
    match = MONTH_RE.match(text or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2100:
        raise ValidationError({"month": ["Give the month as YYYY-MM, e.g. 2026-11."]})
    return date(int(match.group(1)), int(match.group(2)), 1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def current_month(now: datetime | None = None) -> date:
    today = timezone.localtime(now or timezone.now(), timezone.get_default_timezone()).date()
    return today.replace(day=1)


def months_available(now: datetime | None = None) -> list[date]:
    """Newest first: from the month of the first probe to the current one."""
    starts = [t for t in uptime.monitored_from().values() if t]
    last = current_month(now)
    if not starts:
        return [last]
    month = timezone.localtime(min(starts), timezone.get_default_timezone()).date().replace(day=1)
    out = []
    while month <= last:
        out.append(month)
        month = next_month(month)
    return list(reversed(out))


def _component_row(name: str, label: str, value: availability.Availability, target: float) -> dict[str, Any]:
    budget = availability.error_budget(value, target)
    return {
        "component": name,
        "label": label,
        **value.as_dict(),
        "target_percent": target,
        "met": None if value.percent is None else value.percent >= target,
        "error_budget": budget,
    }


def _impact_start(incident: Incident, rules: dict[int, DetectionRule]) -> tuple[datetime | None, str]:
    """When users were first affected, and how we know: stated on the incident,
    read from its components' probes (the run of bad or missing minutes that
    led up to the trigger), or — for rate and resource rules, whose condition
    must hold over a window before they fire — the start of that window."""
    if incident.impact_started_at:
        return min(incident.impact_started_at, incident.triggered_at), "stated"
    if incident.components:
        since = incident.triggered_at - timedelta(hours=6)
        last_good = (
            HealthProbe.objects.filter(
                component__in=incident.components,
                status="healthy",
                checked_at__gte=since,
                checked_at__lt=incident.triggered_at,
            )
            .order_by("-checked_at")
            .values_list("checked_at", flat=True)
            .first()
        )
        trigger_minute = availability.floor_minute(incident.triggered_at)
        if last_good is not None and availability.floor_minute(last_good) < trigger_minute - timedelta(minutes=1):
            return availability.floor_minute(last_good) + timedelta(minutes=1), "probes"
    rule = rules.get(incident.rule_id) if incident.rule_id else None
    if rule is not None and rule.kind != DetectionRule.Kind.PROBE_FAILURE:
        return incident.triggered_at - timedelta(minutes=rule.window_minutes), "rule window"
    return None, ""


def _mean_minutes(values: list[float]) -> float | None:
    return round(mean(values) / 60, 1) if values else None


def incident_figures(start: datetime, end: datetime) -> dict[str, Any]:
    incidents = list(Incident.objects.filter(triggered_at__gte=start, triggered_at__lt=end).order_by("triggered_at"))
    rules = {r.pk: r for r in DetectionRule.objects.filter(pk__in={i.rule_id for i in incidents if i.rule_id})}
    detect, rows = [], []
    for incident in incidents:
        began, how = _impact_start(incident, rules)
        detect_s = (incident.triggered_at - began).total_seconds() if began else None
        if detect_s is not None:
            detect.append(detect_s)
        rows.append(
            {
                "id": incident.pk,
                "title": incident.title,
                "severity": incident.severity,
                "status": incident.status,
                "components": incident.components,
                "triggered_at": incident.triggered_at,
                "resolved_at": incident.resolved_at,
                "detect_s": detect_s,
                "detected_from": how,
                "acknowledge_s": incident.time_to_acknowledge_s,
                "resolve_s": incident.time_to_resolve_s,
                "response_breached": incident.response_breached,
                "resolution_breached": incident.resolution_breached,
            }
        )
    acks = [i.time_to_acknowledge_s for i in incidents if i.time_to_acknowledge_s is not None]
    fixes = [i.time_to_resolve_s for i in incidents if i.time_to_resolve_s is not None]
    return {
        "total": len(incidents),
        "by_severity": {f"SEV{s.value}": sum(1 for i in incidents if i.severity == s.value) for s in Severity},
        "open": sum(1 for i in incidents if i.is_open),
        "mttd_minutes": _mean_minutes(detect),
        "mttd_measured_on": len(detect),
        "mtta_minutes": _mean_minutes(acks),
        "mttr_minutes": _mean_minutes(fixes),
        "breached": [r for r in rows if r["response_breached"] or r["resolution_breached"]],
        "incidents": rows,
    }


def backup_figures(start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    """Nightly backups: a night counts as a success when the nightly job's
    restore drill passed that day; nights before the first recorded drill are
    not expected (backups were not running yet). Restore drills: every one."""
    drills = list(BackupDrill.objects.filter(ran_at__gte=start, ran_at__lt=end).order_by("ran_at"))
    first = BackupDrill.objects.order_by("ran_at").values_list("ran_at", flat=True).first()
    tz = timezone.get_default_timezone()
    good_nights = {timezone.localtime(d.ran_at, tz).date() for d in drills if d.trigger == "beat" and d.ok}
    expected = []
    if first is not None:
        day = max(timezone.localtime(start, tz).date(), timezone.localtime(first, tz).date())
        last = min(timezone.localtime(end, tz).date() - timedelta(days=1), timezone.localtime(now, tz).date())
        while day <= last:
            expected.append(day)
            day += timedelta(days=1)
    succeeded = sum(1 for d in expected if d in good_nights)
    failed_drills = [d for d in drills if not d.ok]
    return {
        "nights_expected": len(expected),
        "nights_ok": succeeded,
        "success_rate_percent": round(100 * succeeded / len(expected), 1) if expected else None,
        "missed_nights": [d for d in expected if d not in good_nights],
        "drills": {
            "total": len(drills),
            "passed": len(drills) - len(failed_drills),
            "failed": len(failed_drills),
            "last": _drill(drills[-1]) if drills else None,
            "failures": [_drill(d) for d in failed_drills[-10:]],
        },
    }


def _drill(drill: BackupDrill) -> dict[str, Any]:
    return {
        "ran_at": drill.ran_at,
        "file": drill.file,
        "ok": drill.ok,
        "tables_checked": drill.tables_checked,
        "message": drill.message,
        "trigger": drill.trigger,
    }


PERF_DAY_CACHE_SECONDS = 7 * 24 * 3600


def _merge(aggregates: list[Aggregate]) -> Aggregate:
    total = Aggregate()
    for agg in aggregates:
        total.count += agg.count
        total.client_errors += agg.client_errors
        total.server_errors += agg.server_errors
        total.duration_sum_ms += agg.duration_sum_ms
        if agg.duration_min_ms is not None:
            low = total.duration_min_ms
            total.duration_min_ms = agg.duration_min_ms if low is None else min(low, agg.duration_min_ms)
        if agg.duration_max_ms is not None:
            high = total.duration_max_ms
            total.duration_max_ms = agg.duration_max_ms if high is None else max(high, agg.duration_max_ms)
        total.histogram = histogram.merge([total.histogram, agg.histogram])
    return total


def _day_requests(day: date, now: datetime) -> Aggregate:
    """All requests of one day folded into one aggregate; a finished day's is
    cached (a month of per-minute rows is millions of rows to fold)."""
    start, end = uptime.day_start(day), uptime.day_start(day + timedelta(days=1))
    finished = end <= now
    key = f"ops:sla-requests:{day.isoformat()}"
    if finished:
        cached = cache.get(key)
        if cached is not None:
            return Aggregate(**cached)
    agg = _merge(list(queries.fold_between(start, min(end, now)).values()))
    agg.status_codes = {}
    if finished:
        cache.set(key, asdict(agg), PERF_DAY_CACHE_SECONDS)
    return agg


def month_performance(month: date, now: datetime) -> dict[str, Any]:
    last = min(next_month(month) - timedelta(days=1), timezone.localtime(now, timezone.get_default_timezone()).date())
    days = [month + timedelta(days=i) for i in range((last - month).days + 1)]
    return queries.totals(folded={("*", "*"): _merge([_day_requests(d, now) for d in days])})


def monthly_report(month: date, *, now: datetime | None = None, performance: bool = True) -> dict[str, Any]:
    """Every figure of the month's SLA report (JSON-ready apart from dates)."""
    now = now or timezone.now()
    start, end = uptime.day_start(month), uptime.day_start(next_month(month))
    target = settings.OPS_SLA_TARGET_PERCENT
    per_day = uptime.daily(month, next_month(month) - timedelta(days=1), now=now)
    components = [
        _component_row(name, label, uptime.total(per_day, name), target) for name, label in COMPONENT_LABELS.items()
    ]
    # Overall: every component's minutes added up, the equal-weight average
    # Statuspage uses for a group of components.
    overall = _component_row("overall", "Overall", uptime.total(per_day), target)
    incidents = incident_figures(start, end)
    perf = month_performance(month, now) if performance else queries.totals(folded={})
    p95 = perf["performance"]["p95_duration_ms"]
    error_rate = perf["requests"]["error_rate"]
    breaches = [
        f"{row['label']} availability {row['uptime_percent']}% is below the {target}% target"
        for row in [*components, overall]
        if row["met"] is False
    ]
    if incidents["mttd_minutes"] is not None and incidents["mttd_minutes"] > settings.OPS_SLA_MTTD_MINUTES:
        breaches.append(f"MTTD {incidents['mttd_minutes']} min is above {settings.OPS_SLA_MTTD_MINUTES} min")
    if incidents["mttr_minutes"] is not None and incidents["mttr_minutes"] > settings.OPS_SLA_MTTR_MINUTES:
        breaches.append(f"MTTR {incidents['mttr_minutes']} min is above {settings.OPS_SLA_MTTR_MINUTES} min")
    if p95 is not None and p95 > settings.OPS_SLA_P95_MS:
        breaches.append(f"p95 response time {p95:.0f} ms is above {settings.OPS_SLA_P95_MS} ms")
    if perf["requests"]["total"] and error_rate * 100 > settings.OPS_SLA_ERROR_RATE_PERCENT:
        breaches.append(f"server error rate {error_rate:.2%} is above {settings.OPS_SLA_ERROR_RATE_PERCENT}%")
    for row in incidents["breached"]:
        which = " and ".join(
            part
            for part, hit in (("response", row["response_breached"]), ("resolution", row["resolution_breached"]))
            if hit
        )
        breaches.append(f"SEV{row['severity']} incident #{row['id']} “{row['title']}” missed its {which} target")
    return {
        "month": month.strftime("%Y-%m"),
        "title": month.strftime("%B %Y"),
        "start": start,
        "end": end,
        "complete": end <= now,
        "generated_at": now,
        "target_percent": target,
        "overall": overall,
        "components": components,
        "incidents": incidents,
        "performance": {
            "requests": perf["requests"]["total"],
            "error_rate_percent": round(error_rate * 100, 3),
            "error_rate_target_percent": settings.OPS_SLA_ERROR_RATE_PERCENT,
            "p95_ms": p95,
            "p95_target_ms": settings.OPS_SLA_P95_MS,
        },
        "targets": {
            "availability_percent": target,
            "mttd_minutes": settings.OPS_SLA_MTTD_MINUTES,
            "mttr_minutes": settings.OPS_SLA_MTTR_MINUTES,
        },
        "backups": backup_figures(start, end, now),
        "breaches": breaches,
    }


CSV_HEADER = [
    "month",
    "component",
    "uptime_percent",
    "target_percent",
    "met",
    "expected_minutes",
    "major_outage_minutes",
    "partial_outage_minutes",
    "unknown_minutes",
    "maintenance_minutes",
    "downtime_minutes",
    "error_budget_allowed_minutes",
    "error_budget_left_minutes",
]


def csv_rows(report: dict[str, Any]) -> list[list[Any]]:
    """Per component and overall; then the month's other figures as name/value rows."""
    rows: list[list[Any]] = []
    for row in [*report["components"], report["overall"]]:
        budget = row["error_budget"]
        rows.append(
            [
                report["month"],
                row["component"],
                row["uptime_percent"],
                row["target_percent"],
                {True: "yes", False: "no", None: ""}[row["met"]],
                row["expected_minutes"],
                row["major_outage_minutes"],
                row["partial_outage_minutes"],
                row["unknown_minutes"],
                row["maintenance_minutes"],
                row["downtime_minutes"],
                budget["allowed_minutes"],
                budget["left_minutes"],
            ]
        )
    incidents, backups = report["incidents"], report["backups"]
    rows.append([])
    for name, value in [
        ("incidents", incidents["total"]),
        *((f"incidents_{sev.lower()}", n) for sev, n in incidents["by_severity"].items()),
        ("mttd_minutes", incidents["mttd_minutes"]),
        ("mtta_minutes", incidents["mtta_minutes"]),
        ("mttr_minutes", incidents["mttr_minutes"]),
        ("p95_ms", report["performance"]["p95_ms"]),
        ("error_rate_percent", report["performance"]["error_rate_percent"]),
        ("backup_success_rate_percent", backups["success_rate_percent"]),
        ("restore_drills", backups["drills"]["total"]),
        ("restore_drills_failed", backups["drills"]["failed"]),
        ("breached_targets", len(report["breaches"])),
    ]:
        rows.append([report["month"], name, value])
    return rows
