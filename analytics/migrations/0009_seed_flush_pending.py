"""Beat job: write the anonymous events buffered in Redis (analytics.pending) every minute."""

from __future__ import annotations

from django.db import migrations
from django.utils import timezone

NAME = "analytics: flush buffered events"
TASK = "analytics.flush_pending"
EXPIRE_SECONDS = 55  # like every every-minute job (ops.0015): queued ticks are dropped, not replayed


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    minute, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=1, period="minutes"
    )
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name=NAME, defaults={"task": TASK, "interval": minute, "enabled": True, "expire_seconds": EXPIRE_SECONDS}
    )
    # Tell a running beat to read its schedule again.
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0008_partition_events"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
