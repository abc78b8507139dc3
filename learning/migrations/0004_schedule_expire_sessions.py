from __future__ import annotations

from django.db import migrations


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_ten, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="learning: expire idle study sessions",
        defaults={"task": "learning.tasks.expire_study_sessions", "interval": every_ten},
    )


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="learning: expire idle study sessions"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("learning", "0003_study"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
