"""Staff pages: dashboard, funnel, retention, a user's timeline, a session. Each table downloads as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.http import content_disposition_header

from analytics import dashboard_figures, queries, services
from analytics import timeutil as tu
from analytics.access import staff_required
from analytics.funnel import DEFAULT_WINDOW_HOURS, MAX_STEPS, FunnelError, FunnelSpec
from analytics.models import Event
from lms import audit, chart_annotations, charts
from lms.models import User
from lms.spreadsheet import spreadsheet_safe

RANGES = (7, 30, 90)


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    # Quoted and RFC 6266-encoded: usernames may hold non-Latin letters.
    response["Content-Disposition"] = content_disposition_header(True, filename)
    writer = csv.writer(response)
    writer.writerow([spreadsheet_safe(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else spreadsheet_safe(v) for v in row])
    return response


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.GET.get(name, default))
    except (TypeError, ValueError):
        return default
    return min(max(value, low), high)


def _count_format(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def humanize_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{seconds // 60} min {seconds % 60} s" if seconds < 600 else f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


SUGGESTED_FUNNELS = [
    ("Sign-up to first study", ["signup", "class_joined", "study_session_started", "study_session_completed"]),
    ("Study session completion", ["study_session_started", "review_submitted", "study_session_completed"]),
    ("Tests", ["study_session_started", "study_session_completed", "test_completed"]),
    ("Teachers building decks", ["login", "deck_created", "card_created"]),
]


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    days = _int_param(request, "days", 30, 1, 366)
    tz = request.user.tzinfo
    engagement = dashboard_figures.engagement(tz, days=days)
    today = tu.utc_day_of(timezone.now())
    features = dashboard_figures.feature_usage(today - days + 1, today)
    study = queries.study_metrics(days)
    errors = queries.errors_summary(24)
    table = request.GET.get("csv")
    if table == "engagement":
        rows = engagement.rows()
        return csv_response("engagement.csv", list(rows[0]) if rows else ["date"], [list(r.values()) for r in rows])
    if table == "features":
        return csv_response(
            "features.csv",
            ["event", "events", "users", "share"],
            [(f.name, f.events, f.users, f.share) for f in features],
        )
    if table == "study" and study:
        return csv_response(
            "study.csv",
            ["mode", "sessions", "completed", "completion_rate", "avg_duration_seconds", "avg_cards"],
            [
                (r["mode"], r["sessions"], r["completed"], r["completion_rate"], r["avg_duration"], r["avg_cards"])
                for r in study["by_mode"]
            ],
        )
    if table == "errors":
        return csv_response(
            "errors.csv",
            ["time", "type", "message", "route", "status", "user"],
            [
                (
                    e.timestamp.isoformat(),
                    e.properties.get("type"),
                    e.properties.get("message"),
                    e.properties.get("route"),
                    e.properties.get("status"),
                    e.user.username if e.user else "",
                )
                for e in errors["recent"]
            ],
        )
    sessions = queries.sessions_summary(today - days + 1, today)
    short = [tu.day_date(d).strftime("%b %d") for d in engagement.days]
    # Incidents and maintenance (whoever registered them with lms.chart_annotations) shaded behind the lines.
    starts = [tu.local_day_bounds(d, tz)[0] for d in engagement.days]
    marks = chart_annotations.between(starts[0], timezone.now()) if starts else []
    line = charts.line_chart(
        short,
        [
            charts.Series("DAU", engagement.dau),
            charts.Series("WAU", engagement.wau),
            charts.Series("MAU", engagement.mau),
        ],
        title="Daily, weekly and monthly active users",
        height=240,
        shades=chart_annotations.shades(marks, starts, timedelta(days=1)),
    )
    new_chart = charts.stacked_bar_chart(
        short,
        [
            charts.Series("New", engagement.new, charts.PALETTE[2]),
            charts.Series("Returning", engagement.returning, charts.PALETTE[0]),
        ],
        title="New and returning users per day",
        value_format=_count_format,
        width=440,  # half a desktop row: a wider chart would scroll there
    )
    mode_chart = (
        charts.bar_chart(
            [r["mode"] for r in study["by_mode"]],
            [r["sessions"] for r in study["by_mode"]],
            title="Study sessions by mode",
            height=180,
            width=440,
        )
        if study and study["by_mode"]
        else None
    )
    top = max((f.events for f in features), default=0)
    return render(
        request,
        "analytics/dashboard.html",
        {
            "days": days,
            "ranges": RANGES,
            "engagement": engagement,
            "latest": {
                "dau": engagement.dau[-1] if engagement.dau else 0,
                "wau": engagement.wau[-1] if engagement.wau else 0,
                "mau": engagement.mau[-1] if engagement.mau else 0,
            },
            "line_chart": line,
            "chart_marks": marks,
            "new_chart": new_chart,
            "mode_chart": mode_chart,
            "features": [(f, round(100 * f.events / top) if top else 0) for f in features[:15]],
            "least_used": list(reversed(features[-5:])) if len(features) > 15 else [],
            "study": study,
            "errors": errors,
            "sessions": sessions,
            "active_now": queries.active_users(15),
            "session_length": humanize_seconds(sessions.avg_duration_seconds),
            "tz": str(tz),
        },
    )


@staff_required
def funnel_page(request: HttpRequest) -> HttpResponse:
    names = queries.event_names()
    raw_steps = [s.strip() for s in request.GET.get("steps", "").split(",") if s.strip()]
    if not raw_steps:
        raw_steps = [request.GET.get(f"step{i}", "").strip() for i in range(1, MAX_STEPS + 1)]
        raw_steps = [s for s in raw_steps if s]
    days = _int_param(request, "days", 30, 1, 366)
    window = _int_param(request, "window_hours", DEFAULT_WINDOW_HOURS, 1, 24 * 366)
    breakdown = request.GET.get("breakdown", "").strip()
    result = error = None
    if raw_steps:
        try:
            spec = FunnelSpec(tuple(raw_steps), days=days, window_hours=window, breakdown=breakdown)
            result = queries.cached_funnel(spec)
        except FunnelError as exc:
            error = exc.message
    if result is not None and request.GET.get("csv"):
        return csv_response(
            "funnel.csv",
            ["step", "event", "users", "conversion", "drop_off", "overall", "median_seconds_from_previous"],
            [
                (i + 1, s.name, s.users, s.conversion, s.drop_off, s.overall, s.median_seconds)
                for i, s in enumerate(result.steps)
            ],
        )
    share_query = urlencode(
        {
            "steps": ",".join(raw_steps),
            "days": days,
            "window_hours": window,
            **({"breakdown": breakdown} if breakdown else {}),
        }
    )
    chart = None
    if result is not None:
        chart = charts.bar_chart(
            [f"{i + 1}. {s.name}" for i, s in enumerate(result.steps)],
            [s.users for s in result.steps],
            title="Users reaching each step",
            height=240,
        )
    shown = min(MAX_STEPS, max(4, len(raw_steps) + 1))
    slots = raw_steps + [""] * (shown - len(raw_steps))
    return render(
        request,
        "analytics/funnel.html",
        {
            "names": names,
            "slots": [(i + 1, value) for i, value in enumerate(slots)],
            "days": days,
            "window_hours": window,
            "breakdown": breakdown,
            "result": result,
            "error": error,
            "chart": chart,
            "share_query": share_query,
            "rows": [(s, humanize_seconds(s.median_seconds)) for s in result.steps] if result else [],
            "suggested": [
                (title, urlencode({"steps": ",".join(steps), "days": days, "window_hours": window}))
                for title, steps in SUGGESTED_FUNNELS
            ],
        },
    )


@staff_required
def retention_page(request: HttpRequest) -> HttpResponse:
    cohorts_n = _int_param(request, "cohorts", 8, 1, 52)
    cohorts = dashboard_figures.retention(request.user.tzinfo, cohorts=cohorts_n)
    if request.GET.get("csv"):
        return csv_response(
            "retention.csv",
            ["week_start", "size"] + [f"week_{k}" for k in range(1, 9)],
            [[c.week_start, c.size, *c.shares] for c in cohorts],
        )
    rows = [
        (
            c,
            [
                (
                    s,
                    f"background: {charts.heat_color(s or 0, 1.0)}; color: {charts.heat_text_color(s or 0, 1.0)}",
                    round(100 * s) if s is not None and c.size else None,
                )
                for s in c.shares
            ],
        )
        for c in cohorts
    ]
    return render(
        request,
        "analytics/retention.html",
        {"rows": rows, "weeks": range(1, 9), "cohorts_n": cohorts_n, "tz": str(request.user.tzinfo)},
    )


@staff_required
def user_page(request: HttpRequest, user_id: int) -> HttpResponse:
    person = get_object_or_404(User, pk=user_id)
    if request.GET.get("csv"):
        # Staff reading another person's data leaves a trace.
        audit.record("user.export", target=person, export="analytics_events_csv")
        return csv_response(
            f"events-{person.username}.csv",
            ["timestamp", "name", "session_key", "properties"],
            (
                (e["timestamp"], e["name"], e["session_key"], e["properties"])
                for e in services.export_user_events(person.pk)
            ),
        )
    stats = queries.user_analytics(person.pk, request.user.tzinfo)
    page = Paginator(Event.objects.for_user(person.pk), 50).get_page(request.GET.get("page"))
    activity = charts.calendar_heatmap(
        stats.pop("by_day"),
        end=timezone.localdate(timezone=request.user.tzinfo),
        days=120,
        title="Events per day",
        unit="events",
    )
    return render(
        request, "analytics/user.html", {"person": person, "stats": stats, "page": page, "activity": activity}
    )


@staff_required
def session_page(request: HttpRequest, session_key: str) -> HttpResponse:
    detail = queries.session_detail(session_key)
    if detail is None:
        raise Http404("No events for this session.")
    if request.GET.get("csv"):
        return csv_response(
            f"session-{session_key[:12]}.csv",
            ["timestamp", "name", "user", "properties"],
            [
                (e.timestamp.isoformat(), e.name, e.user.username if e.user else "", e.properties)
                for e in detail["events"]
            ],
        )
    return render(request, "analytics/session.html", {"detail": detail, "session_key": session_key})
