"""ImportJob.started_at (what the sweep measures a job that never reported
progress from), Card.deck without its own index (the (deck, position) index
serves every lookup by deck), and the sweep of stalled imports every five
minutes in Celery beat."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models

NAME = "learning: fail stalled background imports"


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_five, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    # A missed sweep is caught up by the next one: an old tick need not run.
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": "learning.tasks.sweep_import_jobs", "interval": every_five, "expire_seconds": 300},
    )


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("learning", "0016_merge_20261207_0231"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="card",
            name="deck",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="cards",
                to="learning.deck",
            ),
        ),
        migrations.RunPython(seed, unseed),
    ]
