"""Reads: incidents and maintenance as chart annotations (registered with
lms.chart_annotations when the app is ready, so analytics never imports ops), and
each incident's estimated impact on studying."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from learning.models import Review, StudySession
from lms.chart_annotations import INCIDENT, MAINTENANCE, Annotation
from ops.models import Incident, MaintenanceWindow

MAX_ANNOTATIONS = 200
IMPACT_MAX_SPAN = timedelta(days=2)  # a week-old open incident is compared over its first two days


def provider(start: datetime, end: datetime) -> Iterable[Annotation]:
    now = timezone.now()
    incidents = (
        Incident.objects.filter(triggered_at__lt=end)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=start))
        .only("title", "severity", "triggered_at", "impact_started_at", "resolved_at")
        .order_by("-triggered_at")[:MAX_ANNOTATIONS]
    )
    for incident in incidents:
        began = min(incident.impact_started_at or incident.triggered_at, incident.triggered_at)
        yield Annotation(
            start=began,
            end=incident.resolved_at or now,
            kind=INCIDENT,
            label=f"SEV{incident.severity} {incident.title}",
            url=reverse("ops:incident_detail", args=[incident.pk]),
            severity=incident.severity,
        )
    windows = (
        MaintenanceWindow.objects.filter(starts_at__lt=end, ends_at__gt=start)
        .filter(Q(cancelled_at__isnull=True) | Q(cancelled_at__gt=start))
        .order_by("-starts_at")[:MAX_ANNOTATIONS]
    )
    for window in windows:
        if window.cancelled_at and window.cancelled_at <= window.starts_at:
            continue
        stop = window.ended_at or (min(window.ends_at, window.cancelled_at) if window.cancelled_at else window.ends_at)
        yield Annotation(start=window.starts_at, end=stop, kind=MAINTENANCE, label=f"Maintenance: {window.title}")


def impact(incident: Incident, *, now: datetime | None = None) -> dict[str, Any]:
    """Study sessions started and answers given during the incident against the
    same hours a week earlier: what is missing is the estimated impact."""
    now = now or timezone.now()
    start = min(incident.impact_started_at or incident.triggered_at, incident.triggered_at)
    end = min(incident.resolved_at or now, start + IMPACT_MAX_SPAN)
    if end <= start:
        end = start + timedelta(minutes=1)
    week = timedelta(days=7)

    def counts(a: datetime, b: datetime) -> tuple[int, int]:
        sessions = StudySession.objects.filter(started_at__gte=a, started_at__lt=b).count()
        reviews = Review.objects.filter(reviewed_at__gte=a, reviewed_at__lt=b).count()
        return sessions, reviews

    sessions, reviews = counts(start, end)
    sessions_before, reviews_before = counts(start - week, end - week)

    def below(now_count: int, before: int) -> dict[str, Any]:
        missing = max(before - now_count, 0)
        return {
            "during": now_count,
            "last_week": before,
            "below": missing,
            "below_percent": round(100 * missing / before, 1) if before else None,
        }

    return {
        "start": start,
        "end": end,
        "sessions": below(sessions, sessions_before),
        "reviews": below(reviews, reviews_before),
    }
