"""The sweep of lost data exports every five minutes in Celery beat
(lms.tasks.sweep_data_exports)."""

from __future__ import annotations

from django.db import migrations

NAME = "lms: re-send lost data exports, fail those whose builds keep dying"


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_five, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    # A missed sweep is caught up by the next one: an old tick need not run.
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": "lms.tasks.sweep_data_exports", "interval": every_five, "expire_seconds": 300},
    )


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("lms", "0006_data_export_claim"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
