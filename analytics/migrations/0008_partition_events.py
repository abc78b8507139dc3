"""The event table partitioned by month on PostgreSQL, and the daily job that keeps partitions ahead.

On PostgreSQL the existing table is converted in this migration's transaction:
a partitioned table (PRIMARY KEY (id, timestamp)) with a partition for every
month that has rows, this month and the next two, and a default partition;
the rows copied over, the indexes and the foreign key built again as
partitioned ones, the id sequence continued. Reversible: the reverse builds
one plain table again. Django's model state is unchanged (`id` stays the
model's primary key); on SQLite nothing changes but the schedule.
"""

from __future__ import annotations

from django.db import migrations

from analytics import partitions

TASK = ("analytics: event partitions", "analytics.event_partitions", ("40", "0"))


def partition(apps, schema_editor) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            partitions.partition_table(cursor)


def unpartition(apps, schema_editor) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            partitions.unpartition_table(cursor)


def seed(apps, schema_editor) -> None:  # noqa: ANN001
    name, task, (minute, hour) = TASK
    schedule, _ = apps.get_model("django_celery_beat", "CrontabSchedule").objects.get_or_create(
        minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name=name, defaults={"task": task, "crontab": schedule, "enabled": True}
    )


def unseed(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK[0]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0007_seed_study_answer_bar"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(partition, unpartition), migrations.RunPython(seed, unseed)]
