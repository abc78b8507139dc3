"""Each incident's estimated impact: study activity against the same hours a week earlier."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from learning.models import Review, StudySession
from ops import services
from ops.annotations import impact


def _activity(student, at, sessions: int, reviews: int) -> None:
    for i in range(sessions):
        StudySession.objects.create(
            student=student,
            mode="review",
            scope_type="all",
            status="completed",
            started_at=at + timedelta(minutes=i),
            last_activity_at=at,
        )
    Review.objects.bulk_create(
        Review(
            student=student,
            mode="review",
            quality=4,
            correct=True,
            reviewed_at=at + timedelta(seconds=i),
            status_before="review",
            repetitions_before=1,
            interval_before=1,
            ease_before=2.5,
            repetitions_after=2,
            interval_after=6,
            ease_after=2.5,
            changed_schedule=True,
        )
        for i in range(reviews)
    )


def test_impact_is_what_is_missing_against_last_week(client_for, admin, student) -> None:
    start = timezone.now() - timedelta(hours=3)
    incident = services.incident_open(title="Study down", severity=1, components=["web"], now=start)
    incident = services.incident_resolve(incident=incident, user=admin, now=start + timedelta(hours=1))
    _activity(student, start - timedelta(days=7) + timedelta(minutes=5), sessions=10, reviews=200)
    _activity(student, start + timedelta(minutes=5), sessions=4, reviews=50)
    _activity(student, start + timedelta(hours=2), sessions=5, reviews=5)  # after the incident: not counted
    figures = impact(incident)
    assert figures["sessions"] == {"during": 4, "last_week": 10, "below": 6, "below_percent": 60.0}
    assert figures["reviews"] == {"during": 50, "last_week": 200, "below": 150, "below_percent": 75.0}
    page = client_for(admin).get(f"/ops/incidents/{incident.pk}/")
    assert b"6 fewer study sessions, 150 fewer answers" in page.content
