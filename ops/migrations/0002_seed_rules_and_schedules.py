"""Seed the brief's detection rules and every ops beat schedule."""

from __future__ import annotations

import json

from django.db import migrations

RULES = [
    # slug, name, kind, threshold, severity, critical threshold, critical severity, window, min requests, component
    ("error-rate", "High server error rate", "error_rate", 0.05, 2, None, None, 5, 50, "", ["web"]),
    ("p95-latency", "Slow responses (p95 above 2 s)", "p95_latency", 2000, 3, None, None, 5, 50, "", ["web"]),
    ("cpu", "High CPU use", "cpu", 80, 2, 95, 1, 3, 0, "", ["web"]),
    ("memory", "High memory use", "memory", 85, 2, None, None, 3, 0, "", ["web"]),
    ("disk", "Disk nearly full", "disk", 90, 2, None, None, 3, 0, "", ["database"]),
    ("probe-database", "Database health probe failing", "probe_failure", 0, 1, None, None, 2, 0, "database", ["database"]),
    ("probe-cache", "Cache health probe failing", "probe_failure", 0, 1, None, None, 2, 0, "cache", ["cache"]),
    ("probe-workers", "Background workers not answering", "probe_failure", 0, 1, None, None, 2, 0, "workers", ["workers"]),
]

EVERY_MINUTE = [
    ("ops: incident detection pass", "ops.tasks.detect_incidents"),
    ("ops: health probes", "ops.tasks.run_probes"),
    ("ops: flush request metrics", "ops.tasks.flush_metrics"),
    ("ops: escalate unacknowledged incidents", "ops.tasks.check_escalations"),
]


def seed(apps, schema_editor) -> None:
    DetectionRule = apps.get_model("ops", "DetectionRule")
    for slug, name, kind, threshold, sev, crit, crit_sev, window, min_req, component, components in RULES:
        DetectionRule.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "kind": kind,
                "threshold": threshold,
                "severity": sev,
                "critical_threshold": crit,
                "critical_severity": crit_sev,
                "window_minutes": window,
                "min_requests": min_req,
                "component": component,
                "consecutive": 2,
                "clear_minutes": 10,
                "components": components,
            },
        )

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    for name, task in EVERY_MINUTE:
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "interval": minute, "kwargs": json.dumps({}), "expire_seconds": 55}
        )
    sunday, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="2", day_of_week="0", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name="ops: weekly maintenance", defaults={"task": "ops.tasks.weekly_maintenance", "crontab": sunday}
    )


def unseed(apps, schema_editor) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__startswith="ops: ").delete()
    apps.get_model("ops", "DetectionRule").objects.filter(slug__in=[r[0] for r in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
