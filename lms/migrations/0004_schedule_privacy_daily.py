from __future__ import annotations

from django.db import migrations

NAME = "lms: complete account deletions, drop expired data exports"


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="4", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(name=NAME, defaults={"task": "lms.tasks.privacy_daily", "crontab": daily})


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("lms", "0003_privacy"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
