"""Seed the analytics rollup schedules (editable afterwards in the admin)."""

from __future__ import annotations

from django.db import migrations

TASKS = [
    # name, task, crontab (minute, hour)
    ("analytics: hourly rollup", "analytics.rollup_hourly", ("5", "*")),
    ("analytics: nightly rollup and retention", "analytics.nightly", ("20", "1")),
]


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, (minute, hour) in TASKS:
        schedule, _ = crontab_model.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        task_model.objects.update_or_create(name=name, defaults={"task": task, "crontab": schedule, "enabled": True})


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[t[0] for t in TASKS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_events_and_rollups"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
