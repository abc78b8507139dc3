"""Demo data for the ops pages: three days of per-minute probe history with an
outage, a partial outage and a gap, an hour of request metrics, a resolved
and an open incident, and a scheduled maintenance window. Idempotent: each part is skipped once present."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ops import metrics, services
from ops.models import HealthProbe, Incident, MaintenanceWindow

COMPONENTS = [c.value for c in HealthProbe.Component]


def seed(users: Any) -> None:
    with services.notifications_paused():
        _seed(users)


def _seed(users: Any) -> None:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    rng = random.Random(7)
    if not HealthProbe.objects.exists():
        # A probe every minute for the last three days (minutes without one
        # count as downtime, so the history is per minute, not per hour; more
        # days would make seed_demo slow), with a workers outage, a partial
        # database outage and a 3-minute gap.
        rows = []
        days = 3
        for minute in range(days * 24 * 60, 0, -1):
            at = now - timedelta(minutes=minute)
            for component in COMPONENTS:
                status = "healthy"
                if component == "workers" and 2 * 1440 + 180 <= minute < 2 * 1440 + 200:
                    status = "unhealthy"
                elif component == "database" and 1440 + 300 <= minute < 1440 + 345:
                    status = "degraded"
                elif component == "cache" and 600 <= minute < 603:
                    continue
                rows.append(
                    HealthProbe(
                        component=component, status=status, latency_ms=round(rng.uniform(1, 12), 2), checked_at=at
                    )
                )
        HealthProbe.objects.bulk_create(rows, batch_size=5000)

    if not Incident.objects.filter(title="Background jobs delayed").exists():
        start = now - timedelta(days=3, hours=2)
        past = services.incident_open(
            title="Background jobs delayed",
            severity=2,
            components=["workers"],
            commander=users.admin,
            author=users.admin,
            public_message="Emails and imports are delayed; we are investigating.",
            now=start,
        )
        services.incident_acknowledge(incident=past, user=users.admin, now=start + timedelta(minutes=8))
        services.incident_post_update(
            incident=past,
            user=users.admin,
            message="Worker pool ran out of memory on a large import.",
            status="identified",
            public=False,
            now=start + timedelta(minutes=25),
        )
        services.incident_post_update(
            incident=past,
            user=users.admin,
            message="A fix is deployed; we are watching the queue drain.",
            status="monitoring",
            public=True,
            now=start + timedelta(minutes=50),
        )
        services.incident_resolve(
            incident=past,
            user=users.admin,
            message="All delayed jobs have run.",
            now=start + timedelta(hours=1, minutes=10),
        )
        services.incident_write_postmortem(
            incident=past,
            user=users.admin,
            summary="A 40 MB Anki import exhausted worker memory.",
            impact="Emails and imports delayed by up to an hour.",
            root_cause="Imports were parsed in memory in one go.",
            resolution="Streamed parsing; worker memory limit raised.",
            action_items="Cap import size at 10 MB\nAlert on queue length",
            now=start + timedelta(days=1),
        )
    if not Incident.objects.open().exists():
        current = services.incident_open(
            title="Slow study sessions",
            severity=3,
            components=["web", "database"],
            author=users.admin,
            public_message="Some study sessions load slowly. We are looking into it.",
            now=timezone.now() - timedelta(minutes=40),
        )
        services.incident_post_update(
            incident=current,
            user=users.admin,
            message="p95 on /study/ is 2.4 s; a missing index on reviews is suspected.",
            status="investigating",
            now=timezone.now() - timedelta(minutes=20),
        )
    if not MaintenanceWindow.objects.filter(starts_at__gt=now).exists():
        MaintenanceWindow.objects.create(
            title="Database upgrade to PostgreSQL 17",
            message="The site is read-only for about 10 minutes.",
            starts_at=now + timedelta(days=3, hours=2),
            ends_at=now + timedelta(days=3, hours=2, minutes=30),
            components=["database", "web"],
            created_by=users.admin,
        )
    if not _has_recent_metrics():
        routes = [
            ("GET", "/", 30),
            ("GET", "/decks/<int:pk>/", 80),
            ("POST", "/api/v1/reviews/", 120),
            ("GET", "/study/<int:pk>/", 400),
        ]
        moment = timezone.now()
        for minute in range(60, 0, -1):
            at = moment - timedelta(minutes=minute)
            for method, route, typical in routes:
                for _ in range(rng.randint(3, 12)):
                    status = 500 if rng.random() < (0.08 if 20 < minute < 26 else 0.004) else 200
                    metrics.record(method, route, rng.lognormvariate(0, 0.5) * typical, status, now=at)
        metrics.flush()


def _has_recent_metrics() -> bool:
    from ops.models import RequestMetric

    return RequestMetric.objects.filter(bucket_start__gte=timezone.now() - timedelta(hours=1)).exists()
