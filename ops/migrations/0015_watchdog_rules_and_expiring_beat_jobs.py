"""The watchdog's detection rules (web and broker probes, beat's heartbeat)
and expiring every-minute beat jobs: a minute's tick is worthless a minute
later, so a worker that comes back after an outage must not replay the queue."""

from __future__ import annotations

from django.db import migrations, models
from django.utils import timezone

RULES = [
    # slug, name, kind, severity, component, incident components
    ("probe-web", "Web health probe failing", "probe_failure", 1, "web", ["web"]),
    ("probe-broker", "Task broker unreachable", "probe_failure", 1, "broker", ["broker"]),
    ("beat-heartbeat", "Scheduled jobs stopped (Celery beat down)", "heartbeat", 2, "", ["workers"]),
]
EXPIRE_SECONDS = 55


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    DetectionRule = apps.get_model("ops", "DetectionRule")
    for slug, name, kind, severity, component, components in RULES:
        DetectionRule.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "kind": kind,
                "threshold": 0,
                "severity": severity,
                "window_minutes": 2,
                "min_requests": 0,
                "component": component,
                "consecutive": 2,
                "clear_minutes": 10,
                "components": components,
            },
        )


def disk_waits_too(apps, schema_editor) -> None:  # noqa: ANN001
    """The same discipline as CPU and memory: 3 consecutive minutes (seeded with 1)."""
    apps.get_model("ops", "DetectionRule").objects.filter(slug="disk", window_minutes=1).update(window_minutes=3)


def link_runbooks(apps, schema_editor) -> None:  # noqa: ANN001
    """The new rules' runbooks (docs/ops.md bullets), as migration 0012 seeded the others."""
    import importlib

    importlib.import_module("ops.migrations.0012_kb_search_seed_and_schedules").seed_runbooks(apps, schema_editor)


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("ops", "DetectionRule").objects.filter(slug__in=[r[0] for r in RULES]).delete()


def expire_minute_jobs(apps, schema_editor) -> None:  # noqa: ANN001
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(
        interval__every=1, interval__period="minutes", expire_seconds__isnull=True, expires__isnull=True
    ).update(expire_seconds=EXPIRE_SECONDS)
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")  # tell a running beat
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0014_merge_20261202_0914"),
        ("ops", "0012_kb_search_seed_and_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AlterField(
            model_name="detectionrule",
            name="kind",
            field=models.CharField(
                choices=[
                    ("error_rate", "Server error rate (fraction) over the window"),
                    ("p95_latency", "p95 response time (ms) over the window"),
                    ("cpu", "CPU use (%)"),
                    ("memory", "Memory use (%)"),
                    ("disk", "Disk use (%)"),
                    ("probe_failure", "Consecutive failing health probes of a component"),
                    ("flag_error_rate", "A flag's server error rate above control's (fraction)"),
                    ("flag_p95", "A flag's p95 above control's (ms)"),
                    ("experiment_srm", "A running experiment fails its sample-ratio check"),
                    ("heartbeat", "Celery beat's heartbeat is stale"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(seed, unseed),
        migrations.RunPython(expire_minute_jobs, migrations.RunPython.noop),
        migrations.RunPython(disk_waits_too, migrations.RunPython.noop),
        migrations.RunPython(link_runbooks, migrations.RunPython.noop),
    ]
