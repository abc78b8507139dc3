"""The monthly SLA report, mailed to admins on the 1st (06:00 UTC)."""

from __future__ import annotations

from django.db import migrations

NAME = "ops: monthly SLA report"


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    first, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="6", day_of_week="*", day_of_month="1", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(name=NAME, defaults={"task": "ops.tasks.sla_report", "crontab": first})


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0010_reports_kb_subscriptions")]

    operations = [migrations.RunPython(seed, unseed)]
