"""Knowledge base: the GIN index behind full-text search (PostgreSQL), the
runbooks of docs/ops.md as articles linked to their detection rules, and the
beat jobs of the reports and maintenance windows."""

from __future__ import annotations

from django.conf import settings
from django.db import migrations
from django.utils import timezone

# Weighted like ops.kb.refresh_search_vector: title A, summary and tags B, body C.
VECTOR_SQL = """
UPDATE ops_article AS a SET search_vector =
    setweight(to_tsvector('english', coalesce(a.title, '')), 'A')
 || setweight(to_tsvector('english', coalesce(a.summary, '')), 'B')
 || setweight(to_tsvector('english', coalesce((
        SELECT string_agg(replace(t.name, '-', ' '), ' ')
        FROM ops_article_tags at JOIN ops_articletag t ON t.id = at.articletag_id
        WHERE at.article_id = a.id), '')), 'B')
 || setweight(to_tsvector('english', coalesce(a.body, '')), 'C')
"""

SCHEDULES = [
    # name, task, crontab (minute, hour, day_of_week) or None for every minute
    ("ops: daily health report", "ops.tasks.daily_report", ("0", "7", "*")),
    ("ops: stale knowledge-base articles", "ops.tasks.kb_stale_reminder", ("0", "8", "1")),
    ("ops: maintenance windows start and end", "ops.tasks.maintenance_tick", None),
]


def add_index(apps, schema_editor) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX IF NOT EXISTS ops_article_search_gin ON ops_article USING gin (search_vector)")


def drop_index(apps, schema_editor) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS ops_article_search_gin")


def seed_runbooks(apps, schema_editor) -> None:  # noqa: ANN001
    from ops import runbooks

    class Models:
        Article = apps.get_model("ops", "Article")
        ArticleCategory = apps.get_model("ops", "ArticleCategory")
        ArticleTag = apps.get_model("ops", "ArticleTag")
        DetectionRule = apps.get_model("ops", "DetectionRule")

    runbooks.seed(runbooks.read_docs(settings.BASE_DIR), models=Models, now=timezone.now())
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(VECTOR_SQL)


def unseed_runbooks(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("ops", "Article").objects.filter(source__startswith="docs/ops.md#").delete()


def seed_schedules(apps, schema_editor) -> None:  # noqa: ANN001
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, cron in SCHEDULES:
        if cron is None:
            minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
            # A minute's tick is worthless a minute later: never replayed after a restart.
            defaults = {"task": task, "interval": minute, "expire_seconds": 55}
        else:
            schedule, _ = CrontabSchedule.objects.get_or_create(
                minute=cron[0], hour=cron[1], day_of_week=cron[2], day_of_month="*", month_of_year="*", timezone="UTC"
            )
            defaults = {"task": task, "crontab": schedule}
        PeriodicTask.objects.get_or_create(name=name, defaults=defaults)


def unseed_schedules(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0011_sla_report_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(add_index, drop_index),
        migrations.RunPython(seed_runbooks, unseed_runbooks),
        migrations.RunPython(seed_schedules, unseed_schedules),
    ]
