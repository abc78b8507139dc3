from __future__ import annotations

from django.db import migrations


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name="ops: backup and restore drill", defaults={"task": "ops.tasks.backup", "crontab": nightly}
    )


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name="ops: backup and restore drill").delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0002_seed_rules_and_schedules")]

    operations = [migrations.RunPython(seed, unseed)]
